"""The words of the sign-in pages, in Simplified Chinese and English; pages pick by ui_locales, ?lang= or
Accept-Language, Chinese by default."""

from fastapi import Request

from core.http.language import LANGUAGES, language_from_header, language_of

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
    # The password reset page (auth/recovery/pages.py).
    "reset_title": {"zh-CN": "重设密码", "en": "Reset your password"},
    "reset_intro": {
        "zh-CN": "输入您注册时使用的手机号码，我们将向其发送验证码。",
        "en": "Enter the phone number of your account; we will send a code to it.",
    },
    "reset_phone": {"zh-CN": "手机号码", "en": "Phone number"},
    "reset_send_code": {"zh-CN": "发送验证码", "en": "Send the code"},
    "reset_code_sent": {
        "zh-CN": "如该号码已注册，验证码已发送，10 分钟内有效。",
        "en": "If an account has this number, a code is on its way; it is valid for 10 minutes.",
    },
    "reset_code": {"zh-CN": "短信验证码", "en": "Code from the SMS"},
    "reset_new_password": {"zh-CN": "新密码（至少 10 个字符）", "en": "New password (10 characters or more)"},
    "reset_set_password": {"zh-CN": "设置新密码", "en": "Set the new password"},
    "reset_done": {
        "zh-CN": "密码已重设，请使用新密码登录。",
        "en": "Your password is reset: sign in with the new one.",
    },
    "reset_bad_phone": {"zh-CN": "请输入 11 位手机号码。", "en": "Enter an 11-digit mobile number."},
    "reset_bad_code": {
        "zh-CN": "验证码不正确或已失效，请重新获取。",
        "en": "The code is not right or no longer valid; ask for a new one.",
    },
    "reset_weak": {
        "zh-CN": "这个密码太容易被猜到，请换一个至少 10 个字符、不含手机号或姓名的密码。",
        "en": "This password is too easy to guess: choose another of 10 characters or more, without your number "
        "or name.",
    },
    "reset_staff": {
        "zh-CN": "工作人员账户请联系系统管理员重设密码。",
        "en": "Staff accounts are reset by an administrator.",
    },
}


def page_language(request: Request) -> str:
    for candidate in request.query_params.get("ui_locales", "").split():
        language = language_of(candidate)
        if language:
            return language
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return language_from_header(request.headers.get("accept-language", ""))


def translator(language: str):
    def t(key: str, **values: object) -> str:
        return TEXT[key][language].format(**values)

    return t
