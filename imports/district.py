"""The districts the importer knows by name: their streets (街道) and which department supervises each industry.

A ledger row naming a street outside its district's register is refused. Only 南开区 (120104) is registered;
for another district code the importer accepts the streets its read model already holds.
"""

from dataclasses import dataclass, field

from contracts.enums import Industry


@dataclass(frozen=True)
class District:
    code: str
    name: str
    streets: tuple[str, ...]
    # 三管三必须: the department that supervises (and signs off) each industry's hazards.
    departments: dict[Industry, str] = field(default_factory=dict)


NANKAI = District(
    code="120104",
    name="南开区",
    streets=(
        "长虹街道",
        "鼓楼街道",
        "兴南街道",
        "广开街道",
        "万兴街道",
        "学府街道",
        "向阳路街道",
        "嘉陵道街道",
        "王顶堤街道",
        "水上公园街道",
        "体育中心街道",
        "华苑街道",
    ),
    departments={
        Industry.HAZARDOUS_CHEMICALS: "南开区应急管理局",
        Industry.INDUSTRY_TRADE: "南开区应急管理局",
        Industry.OTHER: "南开区应急管理局",
        Industry.FIRE: "南开区消防救援支队",
        Industry.CONSTRUCTION: "南开区住房和建设委员会",
        Industry.GAS: "南开区城市管理委员会",
        Industry.TRANSPORT: "南开区交通运输局",
        Industry.SPECIAL_EQUIPMENT: "南开区市场监督管理局",
        Industry.CULTURE_ENTERTAINMENT: "南开区文化和旅游局",
        Industry.TOURISM: "南开区文化和旅游局",
        Industry.HAZARDOUS_WASTE: "南开区生态环境局",
        Industry.MEDICAL: "南开区卫生健康委员会",
        Industry.EDUCATION: "南开区教育局",
        Industry.ELDERLY_CARE: "南开区民政局",
        Industry.SPORTS: "南开区体育局",
    },
)

DISTRICTS: dict[str, District] = {NANKAI.code: NANKAI}
