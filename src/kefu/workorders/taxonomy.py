"""Seed taxonomies: a telecom complaint tree (MIIT's 网络质量 / 收费争议 / 用户服务) and a water utility's."""

from __future__ import annotations

from typing import Any

TELECOM = [
    "网络质量/信号覆盖/室内无信号",
    "网络质量/信号覆盖/信号不稳定",
    "网络质量/信号覆盖/新建小区无覆盖",
    "网络质量/上网速度/4G网速慢",
    "网络质量/上网速度/5G网速慢",
    "网络质量/通话质量/掉话",
    "网络质量/通话质量/杂音断续",
    "网络质量/宽带故障/无法上网",
    "网络质量/宽带故障/频繁掉线",
    "收费争议/增值业务/不知情定制",
    "收费争议/增值业务/退订后仍扣费",
    "收费争议/套餐资费/套餐与宣传不符",
    "收费争议/套餐资费/超套餐费用",
    "收费争议/流量费用/流量计费异议",
    "收费争议/国际漫游/漫游费用",
    "用户服务/服务态度/营业厅服务",
    "用户服务/服务态度/热线服务",
    "用户服务/业务办理/携号转网受阻",
    "用户服务/业务办理/销户困难",
    "用户服务/营销活动/活动承诺未兑现",
    "用户服务/信息安全/骚扰电话短信",
]

WATER = [
    "供水服务/停水/计划停水未通知",
    "供水服务/停水/突发停水",
    "供水服务/水压水质/水压低",
    "供水服务/水压水质/水质浑浊",
    "供水服务/管网设施/管道爆裂",
    "供水服务/管网设施/冻管",
    "供水服务/管网设施/井盖缺失",
    "水费争议/抄表计量/水表走字异常",
    "水费争议/抄表计量/估抄",
    "水费争议/缴费/缴费未到账",
    "用户服务/报装接水/报装进度慢",
    "用户服务/服务态度/抢修人员态度",
]

TAXONOMIES: dict[str, list[str]] = {"telecom": TELECOM, "water": WATER}


async def seed_taxonomy(session: Any, actor: Any, name: str) -> int:
    """Create every category of a taxonomy that is missing (idempotent). Returns the leaf count."""
    from kefu.workorders.actions import ensure_category_path

    for path in TAXONOMIES[name]:
        await ensure_category_path(session, actor, path)
    return len(TAXONOMIES[name])
