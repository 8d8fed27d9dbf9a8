"""The scopes and roles of this system, in words (the consent page shows these), and who may hold each scope."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    name: str
    zh: str
    en: str
    # Roles a person must have for a token of theirs to carry this scope; None: anyone. Client-only scopes are
    # granted to partner systems through client credentials and never to a person.
    roles: frozenset[str] | None = None
    client_only: bool = False


SCOPES: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        Scope("openid", "确认您的身份", "Confirm who you are"),
        Scope("profile", "查看您的姓名和首选语言", "See your name and preferred language"),
        Scope("phone", "查看您的手机号码", "See your phone number"),
        # Account management: whom you let act for you (applications, partner systems) and who read your data, and
        # the account itself (its name, the ID check, its password), its inbox and all its credentials. Only the
        # city's own apps are registered for it: an app you let read your name must not grant a partner a mandate to
        # file in your name, withdraw the permission you gave another app, nor read what the city tells you.
        Scope(
            "account",
            "管理您的账户：姓名、实名认证和密码，消息和证照，您授权的应用、代办机构和数据访问记录",
            "Manage your account: your name, identity check and password, your messages and credentials, the apps you "
            "allowed, the partners acting for you, who read your data",
        ),
        Scope(
            "catalogue:write",
            "编辑本部门的服务目录草稿",
            "Edit draft catalogue entries of your department",
            roles=frozenset({"catalogue_editor"}),
        ),
        Scope("catalogue:publish", "发布服务目录", "Publish catalogue entries", roles=frozenset({"publisher"})),
        Scope("permits:apply", "以您的名义申请和管理许可", "Apply for permits and manage your applications"),
        Scope(
            "permits:process",
            "办理本部门的许可申请",
            "Process permit applications of your department",
            roles=frozenset({"officer", "supervisor"}),
        ),
        Scope("talent:apply", "以您的名义申请人才认定", "Apply for talent registration"),
        Scope(
            "talent:review",
            "审核人才认定申请",
            "Review talent registrations",
            roles=frozenset({"talent_officer", "supervisor"}),
        ),
        Scope("partner:read", "读取公开服务数据", "Read public service data", client_only=True),
        Scope("partner:submit", "代表申请人提交申请", "Submit applications on behalf of applicants", client_only=True),
        Scope("webhooks:manage", "管理事件订阅", "Manage event subscriptions", client_only=True),
        Scope("audit:read", "查阅审计日志", "Read the audit trail", roles=frozenset({"auditor"})),
        Scope("admin", "管理账户和客户端", "Administer accounts and clients", roles=frozenset({"admin"})),
    )
}

ROLES: dict[str, tuple[str, str]] = {
    "citizen": ("市民", "citizen"),
    "officer": ("经办人员", "officer"),
    "supervisor": ("审批负责人", "supervisor"),
    "talent_officer": ("人才专员", "talent officer"),
    "catalogue_editor": ("目录编辑", "catalogue editor"),
    "publisher": ("目录发布人", "publisher"),
    "auditor": ("审计员", "auditor"),
    "admin": ("系统管理员", "administrator"),
}
STAFF_ROLES = frozenset(ROLES) - {"citizen"}
# The roles that work a department's queue or catalogue (and whose tokens carry `dept`): an account holding one
# belongs to a department. Publishers, auditors and administrators work across departments; citizens belong to none.
DEPARTMENT_ROLES = frozenset({"officer", "supervisor", "talent_officer", "catalogue_editor"})


def scopes_for_person(requested: set[str], roles: set[str]) -> set[str]:
    """The subset of requested scopes a person with these roles may hold."""
    granted = set()
    for name in requested:
        scope = SCOPES.get(name)
        if scope is None or scope.client_only:
            continue
        if scope.roles is None or scope.roles & roles:
            granted.add(name)
    return granted
