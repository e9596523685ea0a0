"""Fill src/kefu/locale/zh_CN/LC_MESSAGES/messages.po from messages.pot and the table below.

Run by `make messages` after extraction. Strings missing here stay untranslated
(and are listed), so a new English string never silently disappears.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "src" / "kefu" / "locale"

ZH: dict[str, str] = {
    "kefu": "客服",
    "Home": "首页",
    "Users": "用户",
    "Departments": "部门",
    "Sign out": "退出登录",
    "Sign in": "登录",
    "Back to the start page": "返回首页",
    "Welcome": "欢迎",
    "kefu contact center": "kefu 云客服中心",
    "Open your organisation's address, for example /t/demo/login.": "请打开贵单位的地址，例如 /t/demo/login。",
    "New department or team": "新建部门或班组",
    "Name": "姓名",
    "Code": "编码",
    "Kind": "类型",
    "Department": "部门",
    "Team": "班组",
    "Part of": "上级",
    "(top level)": "（顶级）",
    "Description": "说明",
    "Create": "创建",
    "No departments yet.": "还没有部门。",
    "New user": "新建用户",
    "Created %(name)s.": "已创建 %(name)s。",
    "Username": "用户名",
    "Password": "密码",
    "Initial password": "初始密码",
    "(none)": "（无）",
    "Roles": "角色",
    "Create user": "创建用户",
    "Status": "状态",
    "Disabled": "已停用",
    "Locked": "已锁定",
    "Active": "正常",
    "Enable": "启用",
    "Disable": "停用",
    "Unlock": "解锁",
    "Departments and teams": "部门与班组",
    "Welcome, %(name)s": "欢迎，%(name)s",
    "Your roles": "您的角色",
    "Administration": "管理",
    "Authenticator code": "动态验证码",
    "Tenant administrator": "租户管理员",
    "Supervisor": "班长/主管",
    "Agent": "坐席",
    "Back-office handler": "后台处理人",
    "QA inspector": "质检员",
    "Security auditor": "安全审计员",
    "The sign-in form expired. Please try again.": "登录表单已过期，请重试。",
    "Choose a parent from the list.": "请从列表中选择上级。",
    "Choose a department from the list.": "请从列表中选择部门。",
    "Wrong username or password.": "用户名或密码错误。",
    "This account is locked after too many failed sign-ins. Try again later or ask an administrator.":
        "登录失败次数过多，账号已被锁定。请稍后再试或联系管理员解锁。",
    "Too many sign-in attempts from your address. Wait a minute and try again.":
        "您所在地址的登录尝试过多，请一分钟后再试。",
    "This account is disabled. Ask your administrator to enable it.": "该账号已停用，请联系管理员启用。",
    "Enter the 6-digit code from your authenticator app.": "请输入身份验证器中的 6 位动态码。",
    "The authenticator code is wrong or was already used; wait for the next code.":
        "动态码错误或已使用，请等待下一个动态码。",
    "Not found": "未找到",
    "There is nothing at this address.": "此地址没有内容。",
    "Permission denied": "没有权限",
    "Invalid input": "输入有误",
    "Not authenticated": "未登录",
    "Too many requests": "请求过多",
    "Conflict": "冲突",
}


def main() -> int:
    with (LOCALE / "messages.pot").open("rb") as fh:
        template = read_po(fh)
    catalog = Catalog(locale="zh_CN", project="kefu", fuzzy=False)
    missing = []
    for message in template:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        catalog.add(message.id, ZH.get(key, ""))
        if key not in ZH:
            missing.append(key)
    for key, value in ZH.items():  # runtime-only strings (error titles) not found by extraction
        if key not in catalog:
            catalog.add(key, value)
    out = LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with out.open("wb") as fh:
        write_po(fh, catalog, width=0, omit_header=False)
    for key in missing:
        print(f"untranslated (zh_CN): {key}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
