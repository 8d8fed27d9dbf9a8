"""The words of the sign-in pages, in Simplified Chinese and English; pages pick by ui_locales, ?lang= or
Accept-Language, Chinese by default."""

from fastapi import Request

from core.http.language import LANGUAGES, language_from_header

TEXT: dict[str, dict[str, str]] = {
    "service": {"zh-CN": "人才岛政务服务", "en": "Talent Island citizen services"},
    "sign_in": {"zh-CN": "登录", "en": "Sign in"},
    "sign_in_to": {"zh-CN": "登录以继续使用「{client}」", "en": "Sign in to continue to {client}"},
    "identifier": {"zh-CN": "手机号码或用户名", "en": "Phone number or username"},
    "password": {"zh-CN": "密码", "en": "Password"},
    "forgot_password": {"zh-CN": "忘记密码？", "en": "Forgot your password?"},
    "bad_credentials": {
        "zh-CN": "手机号码、用户名或密码不正确。",
        "en": "The phone number, username or password is not right.",
    },
    "throttled": {
        "zh-CN": "尝试次数过多，请在 {seconds} 秒后再试。",
        "en": "Too many attempts. Try again in {seconds} seconds.",
    },
    "expired_form": {
        "zh-CN": "页面已过期，请重新提交。",
        "en": "This page has expired. Please submit it again.",
    },
    "consent_title": {"zh-CN": "授权「{client}」", "en": "Allow {client}?"},
    "consent_intro": {
        "zh-CN": "「{client}」请求以下权限：",
        "en": "{client} is asking to:",
    },
    "signed_in_as": {"zh-CN": "当前登录：{name}", "en": "Signed in as {name}"},
    "not_you": {"zh-CN": "不是您？退出登录", "en": "Not you? Sign out"},
    "allow": {"zh-CN": "同意", "en": "Allow"},
    "deny": {"zh-CN": "拒绝", "en": "Deny"},
    "consent_note": {
        "zh-CN": "您可以随时在账户设置中撤回授权。",
        "en": "You can withdraw this permission at any time in your account settings.",
    },
    "error_title": {"zh-CN": "无法完成请求", "en": "This request cannot be completed"},
    "error_help": {
        "zh-CN": "请返回您使用的应用重试。如问题持续，请联系该应用的提供方。",
        "en": "Go back to the app you came from and try again. If it keeps happening, contact the app's provider.",
    },
    "signed_in_title": {"zh-CN": "您已登录", "en": "You are signed in"},
    "sign_out": {"zh-CN": "退出登录", "en": "Sign out"},
    "sign_out_question": {"zh-CN": "要退出人才岛政务服务吗？", "en": "Sign out of Talent Island citizen services?"},
    "signed_out_title": {"zh-CN": "您已退出登录", "en": "You are signed out"},
    "cancel": {"zh-CN": "取消", "en": "Cancel"},
    "language_switch": {"zh-CN": "English", "en": "中文"},
}


def page_language(request: Request) -> str:
    for candidate in request.query_params.get("ui_locales", "").split():
        if candidate in LANGUAGES:
            return candidate
        if candidate.lower().startswith("zh"):
            return "zh-CN"
        if candidate.lower().startswith("en"):
            return "en"
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return language_from_header(request.headers.get("accept-language", ""))


def translator(language: str):
    def t(key: str, **values: object) -> str:
        return TEXT[key][language].format(**values)

    return t
