"""How the catalogue is shown: in one language (picked by `lang` or Accept-Language) or in both, as our own JSON, as
Open311 GeoReport v2, and as CPSV-AP JSON-LD."""

from typing import Any

from core.http.language import BOTH
from services.catalogue.models import Department, ServiceVersion


def localize_content(value: Any, language: str) -> Any:
    """Every {"zh-CN": ..., "en": ...} pair in stored content becomes its `language` text; BOTH keeps the pairs."""
    if language == BOTH:
        return value
    if isinstance(value, dict):
        if set(value) == {"zh-CN", "en"}:
            return value[language]
        return {key: localize_content(item, language) for key, item in value.items()}
    if isinstance(value, list):
        return [localize_content(item, language) for item in value]
    return value


def _pair(zh: str, en: str, language: str) -> Any:
    return {"zh-CN": zh, "en": en} if language == BOTH else (en if language == "en" else zh)


def summary(row: Any, language: str, *, score: float | None = None) -> dict[str, Any]:
    return {
        "code": row["code"],
        "version": row["version"],
        "status": row["status"],
        "department": row["department"],
        "kind": row["kind"],
        "category": row["category"],
        "audience": [a for a in row["audiences"].split(",") if a],
        "title": _pair(row["title_zh"], row["title_en"], language),
        "summary": _pair(row["summary_zh"], row["summary_en"], language),
        "processing_time": row["processing_time"],
        "updated_at": row["updated_at"].isoformat(),
        "score": round(score, 6) if score is not None else None,
    }


def service(row: ServiceVersion, language: str, *, allowed_actions: list[str] | None = None) -> dict[str, Any]:
    content = localize_content(row.content, language)
    return {
        "id": str(row.id),
        "code": row.code,
        "version": row.version,
        "status": row.status,
        "department": content["department"],
        "kind": content["kind"],
        "category": content["category"],
        "thematic_area": content.get("thematic_area"),
        "audience": content["audience"],
        "title": content["title"],
        "description": content["description"],
        "keywords": content.get("keywords", {"zh-CN": [], "en": []}),
        "processing_time": content.get("processing_time"),
        "legal_basis": content.get("legal_basis"),
        "channels": content.get("channels", []),
        "required_documents": content.get("required_documents", []),
        "costs": content.get("costs", []),
        "eligibility": content.get("eligibility"),
        "form": content.get("form", []),
        "contact": content.get("contact", {}),
        "published_at": row.published_at.isoformat() if row.published_at else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "allowed_actions": allowed_actions or [],
    }


def department(row: Department, language: str) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": _pair(row.name_zh, row.name_en, language),
        "contact": localize_content(row.contact, language),
        "version": row.version,
    }


def first_sentence(text: str, limit: int = 160) -> str:
    for mark in ("。", ". ", "；", "; "):
        if mark in text:
            text = text.split(mark, 1)[0] + mark.strip()
            break
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- Open311 GeoReport v2 -------------------------------------------------------------------------------------------


def open311_service(row: Any, keywords: list[str], language: str) -> dict[str, Any]:
    """GET /services.json entry: service_code, service_name, description, metadata, type, keywords, group."""
    return {
        "service_code": row["code"],
        "service_name": row["title_en"] if language == "en" else row["title_zh"],
        "description": row["summary_en"] if language == "en" else row["summary_zh"],
        "metadata": row["kind"] != "information",
        "type": "batch",
        "keywords": ",".join(keywords),
        "group": row["category"],
    }


def open311_definition(row: ServiceVersion, language: str) -> dict[str, Any]:
    """GET /services/{code}.json: the service definition with its attributes."""
    attributes = []
    for field in sorted(row.content.get("form", []), key=lambda f: f["order"]):
        attributes.append(
            {
                "variable": True,
                "code": field["code"],
                "datatype": field["datatype"],
                "required": field["required"],
                "datatype_description": localize_content(field.get("description"), language) or "",
                "order": field["order"],
                "description": localize_content(field["label"], language),
                **(
                    {
                        "values": [
                            {"key": v["key"], "name": localize_content(v["name"], language)} for v in field["values"]
                        ]
                    }
                    if field["values"]
                    else {}
                ),
            }
        )
    return {"service_code": row.code, "attributes": attributes}


# -- CPSV-AP 3.2 JSON-LD ---------------------------------------------------------------------------------------------

CPSV_CONTEXT = {
    "cpsv": "http://purl.org/vocab/cpsv#",
    "cv": "http://data.europa.eu/m8g/",
    "dct": "http://purl.org/dc/terms/",
    "dcat": "http://www.w3.org/ns/dcat#",
    "adms": "http://www.w3.org/ns/adms#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "schema": "http://schema.org/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "PublicService": "cpsv:PublicService",
    "PublicOrganisation": "cv:PublicOrganisation",
    "Evidence": "cv:Evidence",
    "Cost": "cv:Cost",
    "Channel": "cv:Channel",
    "CriterionRequirement": "cv:CriterionRequirement",
    "ContactPoint": "cv:ContactPoint",
    "LegalResource": "cv:LegalResource",
    "identifier": "dct:identifier",
    "title": {"@id": "dct:title", "@container": "@language"},
    "name": {"@id": "dct:title", "@container": "@language"},
    "description": {"@id": "dct:description", "@container": "@language"},
    "keyword": {"@id": "dcat:keyword", "@container": "@language"},
    "prefLabel": {"@id": "skos:prefLabel", "@container": "@language"},
    "thematicArea": {"@id": "cv:thematicArea", "@type": "@id"},
    "sector": "cv:sector",
    "type": {"@id": "dct:type", "@type": "@id"},
    "status": {"@id": "adms:status", "@type": "@id"},
    "language": {"@id": "dct:language", "@type": "@id"},
    "processingTime": {"@id": "cv:processingTime", "@type": "xsd:duration"},
    "hasCompetentAuthority": {"@id": "cv:hasCompetentAuthority", "@type": "@id"},
    "hasInput": {"@id": "cpsv:hasInput", "@type": "@id"},
    "hasCost": {"@id": "cv:hasCost", "@type": "@id"},
    "hasChannel": {"@id": "cv:hasChannel", "@type": "@id"},
    "hasCriterion": {"@id": "cv:hasCriterion", "@type": "@id"},
    "hasLegalResource": {"@id": "cv:hasLegalResource", "@type": "@id"},
    "hasContactPoint": {"@id": "cv:hasContactPoint", "@type": "@id"},
    "value": {"@id": "cv:value", "@type": "xsd:decimal"},
    "currency": {"@id": "cv:currency", "@type": "@id"},
    "channelType": {"@id": "dct:type"},
    "email": "schema:email",
    "telephone": "schema:telephone",
    "openingHours": {"@id": "cv:openingHours", "@container": "@language"},
    "url": {"@id": "schema:url", "@type": "@id"},
}

ADMS_STATUS = {
    "draft": "http://purl.org/adms/status/UnderDevelopment",
    "published": "http://purl.org/adms/status/Completed",
    "deprecated": "http://purl.org/adms/status/Deprecated",
    "withdrawn": "http://purl.org/adms/status/Withdrawn",
}
CURRENCY = "http://publications.europa.eu/resource/authority/currency/CNY"
LANGUAGE_AUTHORITY = {
    "zh-CN": "http://publications.europa.eu/resource/authority/language/ZHO",
    "en": "http://publications.europa.eu/resource/authority/language/ENG",
}


def _lang_map(text: dict[str, str] | None) -> dict[str, str] | None:
    return {"zh-CN": text["zh-CN"], "en": text["en"]} if text else None


def jsonld(row: ServiceVersion, owner: Department, base: str) -> dict[str, Any]:
    """A CPSV-AP PublicService with its competent authority, evidence, costs, channels, criteria and contact."""
    content = row.content
    service_iri = f"{base}/api/v1/catalogue/services/{row.code}/versions/{row.version}"
    document: dict[str, Any] = {
        "@context": CPSV_CONTEXT,
        "@id": service_iri,
        "@type": "PublicService",
        "identifier": row.code,
        "name": _lang_map(content["title"]),
        "description": _lang_map(content["description"]),
        "keyword": {
            "zh-CN": content.get("keywords", {}).get("zh-CN", []),
            "en": content.get("keywords", {}).get("en", []),
        },
        "thematicArea": f"{base}/api/v1/catalogue/categories/{content['category']}",
        "type": f"{base}/api/v1/catalogue/kinds/{content['kind']}",
        "status": ADMS_STATUS[row.status],
        "language": list(LANGUAGE_AUTHORITY.values()),
        "hasCompetentAuthority": {
            "@id": f"{base}/api/v1/catalogue/departments/{owner.code}",
            "@type": "PublicOrganisation",
            "identifier": owner.code,
            "prefLabel": {"zh-CN": owner.name_zh, "en": owner.name_en},
        },
        "hasInput": [
            {
                "@id": f"{service_iri}#evidence-{doc['code']}",
                "@type": "Evidence",
                "identifier": doc["code"],
                "name": _lang_map(doc["name"]),
            }
            for doc in content.get("required_documents", [])
        ],
        "hasCost": [
            {
                "@id": f"{service_iri}#cost-{cost['code']}",
                "@type": "Cost",
                "identifier": cost["code"],
                "value": f"{cost['amount'] / 100:.2f}",
                "currency": CURRENCY,
                "description": _lang_map(cost["description"]),
            }
            for cost in content.get("costs", [])
        ],
        "hasChannel": [
            {
                "@id": f"{service_iri}#channel-{index}",
                "@type": "Channel",
                "channelType": channel["type"],
                **({"url": channel["url"]} if channel.get("url") else {}),
                **({"telephone": channel["phone"]} if channel.get("phone") else {}),
            }
            for index, channel in enumerate(content.get("channels", []), start=1)
        ],
    }
    if content.get("processing_time"):
        document["processingTime"] = content["processing_time"]["duration"]
    if content.get("eligibility"):
        document["hasCriterion"] = [
            {
                "@id": f"{service_iri}#eligibility",
                "@type": "CriterionRequirement",
                "name": _lang_map(content["eligibility"]["description"]),
            }
        ]
    if content.get("legal_basis"):
        document["hasLegalResource"] = [
            {
                "@id": f"{service_iri}#legal-basis",
                "@type": "LegalResource",
                "description": _lang_map(content["legal_basis"]),
            }
        ]
    contact = {**owner.contact, **content.get("contact", {})}
    if contact:
        document["hasContactPoint"] = {
            "@id": f"{service_iri}#contact",
            "@type": "ContactPoint",
            **({"email": contact["email"]} if contact.get("email") else {}),
            **({"telephone": contact["phone"]} if contact.get("phone") else {}),
            **({"openingHours": _lang_map(contact["opening_hours"])} if contact.get("opening_hours") else {}),
        }
    return document
