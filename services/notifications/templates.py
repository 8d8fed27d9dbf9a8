"""Notification templates in zh-CN and en. `{name}` placeholders are filled from the notification's parameters.

The SMS template ids are the ids registered with the cloud's SMS service; an SMS carries the parameters in order.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Template:
    code: str
    title: dict[str, str]
    body: dict[str, str]
    params: tuple[str, ...]
    sms_template_id: str | None = None  # None: in-app only
    # Parameters whose values are codes shown as words: {param: {code: {language: word}}}.
    labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


PERMIT_STATUS_LABELS = {
    code: {"zh-CN": zh, "en": en}
    for code, zh, en in (
        ("submitted", "已提交", "submitted"),
        ("screening", "形式审查中", "being checked for completeness"),
        ("under_review", "审查中", "under review"),
        ("awaiting_applicant", "待补充材料", "waiting for information from you"),
        ("pending_payment", "审查通过，待缴费", "passed review; fees due"),
        ("approved", "已批准", "approved"),
        ("issued", "已发证", "issued: your permit is ready"),
        ("rejected", "未予批准", "not approved"),
        ("withdrawn", "已撤回", "withdrawn"),
    )
}

TALENT_STATUS_LABELS = {
    code: {"zh-CN": zh, "en": en}
    for code, zh, en in (
        ("submitted", "已提交", "submitted"),
        ("verifying", "核验中", "being verified"),
        ("awaiting_applicant", "待补充材料", "waiting for information from you"),
        ("scored", "已评分，待审核", "scored; under review"),
        ("approved", "已认定", "approved"),
        ("card_issued", "人才卡已签发", "your talent card is issued"),
        ("rejected", "未予认定", "not approved"),
        ("withdrawn", "已撤回", "withdrawn"),
    )
}

TEMPLATES: dict[str, Template] = {
    template.code: template
    for template in (
        Template(
            code="identity_verified",
            title={"zh-CN": "实名认证成功", "en": "Identity verified"},
            # No name: the text also goes by SMS, through the provider, and says nothing a name would add.
            body={
                "zh-CN": "您的实名认证已通过，现在可以在线办理人才岛政务服务。",
                "en": "Your identity is verified: you can now use Talent Island's online services.",
            },
            params=(),
            # A template of its own, registered with the cloud without a parameter (100101 took the name).
            sms_template_id="100103",
        ),
        Template(
            code="payment_received",
            title={"zh-CN": "缴费成功", "en": "Payment received"},
            body={
                "zh-CN": "我们已收到您的付款 ¥{amount}（{description}）。",
                "en": "We received your payment of ¥{amount} ({description}).",
            },
            params=("amount", "description"),
        ),
        Template(
            code="credential_expiring",
            title={"zh-CN": "证照即将到期", "en": "Your credential expires soon"},
            body={
                "zh-CN": "您的{title_zh}（编号 {number}）将于 {valid_until} 到期，如需继续使用请及时办理续期。",
                "en": "Your {title_en} (number {number}) expires on {valid_until}; renew it in time if you need it.",
            },
            params=("number", "title_zh", "title_en", "valid_until"),
        ),
        Template(
            code="credential_renewal_due",
            title={"zh-CN": "证照即将到期，请及时申请延续", "en": "Your credential expires soon: apply to renew it"},
            body={
                "zh-CN": (
                    "您的{title_zh}（编号 {number}）将于 {valid_until} 到期。如需延续，请于 {renew_by} 前提出申请。"
                ),
                "en": (
                    "Your {title_en} (number {number}) expires on {valid_until}. To renew it, apply before {renew_by}."
                ),
            },
            params=("number", "title_zh", "title_en", "valid_until", "renew_by"),
        ),
        Template(
            code="permit_status_changed",
            title={"zh-CN": "许可申请进度更新", "en": "Your permit application has moved on"},
            body={
                "zh-CN": "您的申请 {reference} 当前状态：{status}。",
                "en": "Your application {reference} is now: {status}.",
            },
            params=("reference", "status"),
            sms_template_id="100201",
            labels={"status": PERMIT_STATUS_LABELS},
        ),
        Template(
            code="talent_status_changed",
            title={"zh-CN": "人才认定进度更新", "en": "Your talent registration has moved on"},
            body={
                "zh-CN": "您的人才认定申请 {reference} 当前状态：{status}。",
                "en": "Your talent registration {reference} is now: {status}.",
            },
            params=("reference", "status"),
            sms_template_id="100301",
            labels={"status": TALENT_STATUS_LABELS},
        ),
        Template(
            code="application_message",
            title={"zh-CN": "您的申请有新留言", "en": "A message about your application"},
            # Only that there is a message: its words may be personal, and the SMS copy goes through the provider.
            body={
                "zh-CN": "经办人员就您的申请 {reference} 给您留言，请登录查看。",
                "en": "The office handling your application {reference} wrote to you; sign in to read it.",
            },
            params=("reference",),
            sms_template_id="100202",
        ),
        Template(
            code="application_reply",
            title={"zh-CN": "申请人留言", "en": "The applicant wrote"},
            body={
                "zh-CN": "申请 {reference} 的申请人留言了，请查看。",
                "en": "The applicant of {reference} wrote on the application; read it there.",
            },
            params=("reference",),
        ),
        Template(
            code="permit_escalated",
            title={"zh-CN": "申请即将超期", "en": "An application is close to its deadline"},
            body={
                "zh-CN": "申请 {reference} 将于 {due_at} 到期，请尽快处理。",
                "en": "Application {reference} is due by {due_at}; please act on it.",
            },
            params=("reference", "due_at"),
        ),
        Template(
            code="password_changed",
            title={"zh-CN": "账户密码已修改", "en": "Your password was changed"},
            body={
                "zh-CN": "您的人才岛政务服务账户密码已于 {changed_at} {how}，其他设备上的登录已退出。"
                "如非本人操作，请立即通过“忘记密码”重设密码并联系我们。",
                "en": "Your Talent Island account's password was {how} at {changed_at}, and you were signed out "
                'everywhere else. If this was not you, reset your password with "Forgot password" now and contact us.',
            },
            params=("changed_at", "how"),
            sms_template_id="100102",
            labels={
                "how": {
                    "changed": {"zh-CN": "修改", "en": "changed"},
                    "reset": {"zh-CN": "通过短信验证码重设", "en": "reset with a code sent to your phone"},
                    "set_by_administrator": {"zh-CN": "由系统管理员重设", "en": "reset by an administrator"},
                }
            },
        ),
        Template(
            code="talent_escalated",
            title={"zh-CN": "人才认定申请即将超期", "en": "A talent application is close to its deadline"},
            body={
                "zh-CN": "人才认定申请 {reference} 将于 {due_at} 到期，请尽快处理。",
                "en": "Talent application {reference} is due by {due_at}; please act on it.",
            },
            params=("reference", "due_at"),
        ),
    )
}


def localise(template: Template, language: str, params: dict[str, str]) -> dict[str, str]:
    """The parameters as the reader sees them: codes with labels turned into words of their language."""
    language = language if language in template.title else "zh-CN"
    shown = {}
    for name in template.params:
        words = template.labels.get(name, {}).get(params[name])
        shown[name] = words.get(language, params[name]) if words else params[name]
    return shown


def render(template: Template, language: str, params: dict[str, str]) -> tuple[str, str]:
    """Title and body in `language` (zh-CN when the template lacks it)."""
    language = language if language in template.title else "zh-CN"
    return template.title[language], template.body[language].format(**localise(template, language, params))


# One-time codes (sign-up, password reset) are not notifications: no account may exist yet, and nothing is kept. Their
# SMS templates, as registered with the cloud, carry the code as their only parameter; the cloud adds the signature
# (the service's name). Nothing else goes in them: no name, no number, no link. (Their words: the mock cloud's
# SMS_TEMPLATES.)
CODE_SMS_TEMPLATES = {
    "sign_up": "100001",
    "reset": "100002",
}
