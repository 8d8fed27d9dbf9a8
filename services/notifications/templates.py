"""Notification templates in zh-CN and en. `{name}` placeholders are filled from the notification's parameters.

The SMS template ids are the ids registered with the cloud's SMS service; an SMS carries the parameters in order.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    code: str
    title: dict[str, str]
    body: dict[str, str]
    params: tuple[str, ...]
    sms_template_id: str | None = None  # None: in-app only


TEMPLATES: dict[str, Template] = {
    template.code: template
    for template in (
        Template(
            code="identity_verified",
            title={"zh-CN": "实名认证成功", "en": "Identity verified"},
            body={
                "zh-CN": "{name}，您的实名认证已通过，现在可以在线办理人才岛政务服务。",
                "en": "{name}, your identity is verified: you can now use Talent Island's online services.",
            },
            params=("name",),
            sms_template_id="100101",
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
    )
}


def render(template: Template, language: str, params: dict[str, str]) -> tuple[str, str]:
    """Title and body in `language` (zh-CN when the template lacks it)."""
    language = language if language in template.title else "zh-CN"
    return template.title[language], template.body[language].format(**{name: params[name] for name in template.params})
