"""Grow the bench database's catalogue to N published services: generated, bilingual, none of them using the words
the search scenarios look for, so a search matches the same few services at 100 and at 100,000."""

import random
import sys
from typing import Any

from sqlalchemy import create_engine, func, insert, select

from core.db import sync_url
from services.catalogue.models import ServiceVersion
from services.catalogue.schemas import ServiceCreate
from services.catalogue.service import _columns

PLACES_ZH = ["江门", "台山", "开平", "鹤山", "恩平", "新会", "蓬江", "江海", "人才岛", "滨江", "北街", "白沙"]
PLACES_EN = [
    "Jiangmen",
    "Taishan",
    "Kaiping",
    "Heshan",
    "Enping",
    "Xinhui",
    "Pengjiang",
    "Jianghai",
    "Islet",
    "Riverside",
    "North Street",
    "Baisha",
]
TOPICS = [
    ("垃圾分类", "waste sorting"),
    ("社区活动", "community events"),
    ("图书借阅", "library loans"),
    ("公园预约", "park booking"),
    ("体育场馆", "sports venues"),
    ("停车服务", "parking"),
    ("供水报修", "water repair"),
    ("路灯维护", "street lights"),
    ("宠物登记", "pet registration"),
    ("文化讲座", "culture talks"),
    ("志愿服务", "volunteering"),
    ("老年服务", "elderly care"),
]
KINDS = [("咨询", "enquiry"), ("预约", "appointment"), ("登记", "registration"), ("查询", "lookup")]
DEPARTMENTS = ["talent", "market", "housing", "hrss", "entry-exit", "tax"]


def generated(index: int) -> ServiceCreate:
    rng = random.Random(index)
    place = rng.randrange(len(PLACES_ZH))
    topic_zh, topic_en = TOPICS[rng.randrange(len(TOPICS))]
    kind_zh, kind_en = KINDS[rng.randrange(len(KINDS))]
    return ServiceCreate.model_validate(
        {
            "code": f"gen-{index:06d}",
            "department": DEPARTMENTS[index % len(DEPARTMENTS)],
            "kind": "information",
            "category": "community",
            "audience": ["citizen"],
            "title": {
                "zh-CN": f"{PLACES_ZH[place]}{topic_zh}{kind_zh}（{index}号）",
                "en": f"{PLACES_EN[place]} {topic_en} {kind_en} no. {index}",
            },
            "description": {
                "zh-CN": f"{PLACES_ZH[place]}居民的{topic_zh}{kind_zh}。线上办理。",
                "en": f"{topic_en.capitalize()} {kind_en} for residents of {PLACES_EN[place]}. Online.",
            },
            "keywords": {"zh-CN": [topic_zh], "en": [topic_en]},
            "channels": [{"type": "online", "url": "https://talentisland.jiangmen.gov.cn/services"}],
        }
    )


def grow(database_url: str, total: int) -> int:
    """Add generated services until `total` are current; returns how many were added."""
    engine = create_engine(sync_url(database_url))
    table = ServiceVersion.__table__
    try:
        with engine.begin() as connection:
            have = connection.execute(select(func.count()).select_from(table).where(table.c.current)).scalar_one()
            start = connection.execute(
                select(func.count()).select_from(table).where(table.c.code.like("gen-%"))
            ).scalar_one()
        added, batch = 0, []
        index = start
        while have + added < total:
            item = generated(index)
            row: dict[str, Any] = {
                "code": item.code,
                "version": 1,
                "status": "published",
                "current": True,
                **_columns(item),
            }
            batch.append(ServiceVersion(**row).model_dump())
            index += 1
            added += 1
            if len(batch) == 2000 or have + added == total:
                with engine.begin() as connection:
                    connection.execute(insert(table), batch)
                batch = []
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE catalogue_service")
        return added
    finally:
        engine.dispose()


if __name__ == "__main__":
    print(grow(sys.argv[1], int(sys.argv[2])))
