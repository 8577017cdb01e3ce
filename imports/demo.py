"""A realistic 重大隐患督改台账 for one district, for demonstrations: `python cli.py demo`.

Fictional enterprises (valid 统一社会信用代码), the district's streets and departments, hazards of every
industry with plausible 判定依据, some found in the previous year (存量) and most in the current one, stages
spread as a year of real work leaves them, many deadlines already missed. A few hazards are chosen so that
their 函告 falls due minutes after the import (in office hours on a working day; otherwise at the next office
time): the ladder then escalates them for real, since rungs missed before an import are never issued.

Deterministic for a seed and a day: the same command on the same day writes the same ledger, except for
the hazards chosen to escalate, which depend on the time of day.
"""

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

from contracts.clock import china_date
from contracts.enums import Industry, InterimControlKind, Source, Stage
from imports import creditcode
from imports.district import District
from imports.layout import COLUMNS, CONTROL_KIND_LABELS, CONTROL_KINDS
from ledgers.xlsx import SOURCE_LABELS, Column, Sheet, chinese_date, new_workbook, yes_no
from scheduling.schedule import office_time
from workcalendar import WorkCalendar

# How many of the hazards are chosen to escalate during the demonstration.
ESCALATING = 8
# The escalating hazards' letters fall due in this window after the ledger is written (office hours allowing).
SOON = (timedelta(minutes=2), timedelta(minutes=12))


@dataclass(frozen=True)
class HazardKind:
    title: str
    place: str
    standard: str
    clause: str
    measures: str
    plan: str


FIRE_STANDARD = "《重大火灾隐患判定方法》"
CATALOGUE: dict[Industry, list[HazardKind]] = {
    Industry.HAZARDOUS_CHEMICALS: [
        HazardKind(
            "可燃有毒气体检测报警装置失效",
            "甲类储罐区",
            "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》",
            "第十二条",
            "更换失效探头，报警信号接入有人值守的控制室并与紧急切断阀联锁",
            "储罐区泄漏专项应急预案",
        ),
        HazardKind(
            "重点监管危险化工工艺未实现自动化控制",
            "氯化反应车间",
            "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》",
            "第七条",
            "委托有资质单位设计安装温度、压力超限自动联锁和紧急停车系统",
            "反应失控专项应急预案",
        ),
        HazardKind(
            "全压力式液化烃储罐未设置注水措施",
            "液化烃球罐区",
            "《化工和危险化学品生产经营单位重大生产安全事故隐患判定标准（试行）》",
            "第九条",
            "增设储罐注水设施并完成试运行",
            "液化烃泄漏专项应急预案",
        ),
    ],
    Industry.INDUSTRY_TRADE: [
        HazardKind(
            "粉尘爆炸危险场所设置在非框架结构多层建筑内",
            "铝制品抛光车间",
            "《工贸企业重大事故隐患判定标准》",
            "第十三条第（一）项",
            "抛光工序迁入单层框架结构厂房，设置泄爆口和隔爆装置",
            "粉尘爆炸专项应急预案",
        ),
        HazardKind(
            "有限空间作业未执行审批和通风检测",
            "污水处理池",
            "《工贸企业重大事故隐患判定标准》",
            "第四条第（二）项",
            "建立有限空间作业审批制度，配备气体检测仪和机械通风设备",
            "有限空间作业事故应急预案",
        ),
        HazardKind(
            "液氨制冷车间未设置紧急泄氨装置",
            "冷库氨压缩机房",
            "《工贸企业重大事故隐患判定标准》",
            "第十二条第（二）项",
            "加装紧急泄氨装置和氨气浓度报警联锁",
            "液氨泄漏专项应急预案",
        ),
    ],
    Industry.CONSTRUCTION: [
        HazardKind(
            "深基坑未按专项施工方案进行支护和监测",
            "3号楼基坑",
            "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》",
            "第七条",
            "按专家论证方案补强支护，委托第三方开展基坑监测",
            "基坑坍塌专项应急预案",
        ),
        HazardKind(
            "塔式起重机安全装置失效",
            "2号塔吊",
            "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》",
            "第十条",
            "更换起重力矩限制器并经检测机构检验合格",
            "起重机械事故专项应急预案",
        ),
        HazardKind(
            "高大模板支撑体系未按方案搭设",
            "地下车库顶板",
            "《房屋市政工程生产安全重大事故隐患判定标准（2022版）》",
            "第八条",
            "拆除不合格支撑，按论证方案重新搭设并验收",
            "模板坍塌专项应急预案",
        ),
    ],
    Industry.FIRE: [
        HazardKind(
            "人员密集场所安全出口锁闭、疏散通道堵塞",
            "一层营业厅",
            FIRE_STANDARD,
            "（GB 35181-2017）第6.4条",
            "拆除锁闭装置，清理疏散通道，增设常闭式防火门",
            "灭火和应急疏散预案",
        ),
        HazardKind(
            "自动喷水灭火系统瘫痪",
            "地下一层",
            FIRE_STANDARD,
            "（GB 35181-2017）第7.9条",
            "维修消防水泵和报警阀组，恢复系统联动",
            "灭火和应急疏散预案",
        ),
        HazardKind(
            "火灾自动报警系统处于故障状态",
            "消防控制室",
            FIRE_STANDARD,
            "（GB 35181-2017）第7.11条",
            "委托维保单位更换故障模块和探测器",
            "灭火和应急疏散预案",
        ),
    ],
    Industry.GAS: [
        HazardKind(
            "餐饮场所用气未安装可燃气体报警和紧急切断装置",
            "后厨操作间",
            "《城镇燃气经营安全重大隐患判定标准》",
            "第十四条",
            "安装可燃气体报警器并与紧急切断阀联动",
            "燃气泄漏专项应急预案",
        ),
        HazardKind(
            "液化石油气钢瓶存放于地下室",
            "地下一层库房",
            "《城镇燃气经营安全重大隐患判定标准》",
            "第十三条",
            "清出地下室全部气瓶，改用管道天然气",
            "燃气泄漏专项应急预案",
        ),
    ],
    Industry.TRANSPORT: [
        HazardKind(
            "危险货物运输车辆罐体超期未检验",
            "停车场",
            "《道路运输企业和城市客运企业安全生产重大事故隐患判定标准（试行）》",
            "第八条",
            "停运相关车辆，罐体送检合格后恢复运营",
            "危险货物运输事故应急预案",
        ),
        HazardKind(
            "卫星定位动态监控未有效运行",
            "监控中心",
            "《道路运输企业和城市客运企业安全生产重大事故隐患判定标准（试行）》",
            "第六条",
            "恢复监控平台运行，配备专职监控人员",
            "道路运输事故应急预案",
        ),
    ],
    Industry.CULTURE_ENTERTAINMENT: [
        HazardKind(
            "歌舞娱乐场所包间使用易燃可燃装修材料",
            "二层包间",
            FIRE_STANDARD,
            "（GB 35181-2017）第7.6条",
            "拆除易燃装修，更换为不燃材料",
            "灭火和应急疏散预案",
        ),
        HazardKind(
            "影院放映厅疏散指示标志和应急照明损坏",
            "3号放映厅",
            FIRE_STANDARD,
            "（GB 35181-2017）第7.13条",
            "更换疏散指示标志和应急照明灯具",
            "灭火和应急疏散预案",
        ),
    ],
    Industry.TOURISM: [
        HazardKind(
            "大型游乐设施超期未检验仍在运营",
            "游乐区",
            "《特种设备重大事故隐患判定准则》",
            "（GB 45067-2024）第5.2条",
            "停止运营，经检验合格后恢复",
            "游乐设施事故应急预案",
        ),
        HazardKind(
            "宾馆客房楼层疏散楼梯被占用",
            "客房楼三层",
            FIRE_STANDARD,
            "（GB 35181-2017）第6.4条",
            "清理楼梯间杂物，落实每日巡查",
            "灭火和应急疏散预案",
        ),
    ],
    Industry.SPECIAL_EQUIPMENT: [
        HazardKind(
            "电梯超期未检验仍投入使用",
            "2号楼客梯",
            "《特种设备重大事故隐患判定准则》",
            "（GB 45067-2024）第4.3条",
            "停用电梯，报检合格后恢复使用",
            "电梯困人事故应急预案",
        ),
        HazardKind(
            "锅炉安全阀失效",
            "锅炉房",
            "《特种设备重大事故隐患判定准则》",
            "（GB 45067-2024）第5.1条",
            "更换安全阀并校验合格",
            "锅炉事故专项应急预案",
        ),
    ],
    Industry.HAZARDOUS_WASTE: [
        HazardKind(
            "危险废物贮存设施未设置防渗和泄漏收集装置",
            "危废暂存间",
            "《危险废物重大事故隐患判定标准（试行）》",
            "第五条",
            "地面防渗改造，增设导流沟和收集池",
            "危险废物泄漏应急预案",
        ),
        HazardKind(
            "废矿物油与易燃物品混合贮存",
            "危废暂存间",
            "《危险废物重大事故隐患判定标准（试行）》",
            "第七条",
            "分区分类贮存，设置防火隔离",
            "危险废物泄漏应急预案",
        ),
    ],
    Industry.MEDICAL: [
        HazardKind(
            "医用氧气汇流排间与配电室未防火分隔",
            "门诊楼地下一层",
            "《医疗机构重大事故隐患判定清单（试行）》",
            "第三条",
            "砌筑防火隔墙，更换甲级防火门",
            "医用气体事故应急预案",
        ),
        HazardKind(
            "住院楼疏散楼梯间堆放杂物",
            "住院楼",
            "《医疗机构重大事故隐患判定清单（试行）》",
            "第五条",
            "清理楼梯间，落实每日巡查",
            "火灾事故应急预案",
        ),
    ],
    Industry.EDUCATION: [
        HazardKind(
            "实验室危险化学品未执行双人双锁管理",
            "化学实验室",
            "《中小学校和幼儿园重大事故隐患判定标准（试行）》",
            "第六条",
            "配置专用试剂柜，落实双人双锁和台账管理",
            "实验室安全事故应急预案",
        ),
        HazardKind(
            "学生宿舍疏散通道被占用",
            "学生宿舍楼",
            "《中小学校和幼儿园重大事故隐患判定标准（试行）》",
            "第四条",
            "清理疏散通道，增设疏散指示",
            "校园火灾应急疏散预案",
        ),
    ],
    Industry.ELDERLY_CARE: [
        HazardKind(
            "失能老人居室设置在地下室",
            "地下一层",
            "《养老机构重大事故隐患判定标准》",
            "第六条",
            "将失能老人迁至地上楼层居住",
            "养老机构火灾应急预案",
        ),
        HazardKind(
            "养老机构消防设施未保持完好有效",
            "护理楼",
            "《养老机构重大事故隐患判定标准》",
            "第五条",
            "维修室内消火栓和火灾报警系统",
            "养老机构火灾应急预案",
        ),
    ],
    Industry.SPORTS: [
        HazardKind(
            "游泳场所救生员配备不足",
            "室内游泳池",
            "《高危险性体育项目经营场所重大事故隐患判定标准（试行）》",
            "第四条",
            "按水面面积配足持证救生员，设置救生观察台",
            "溺水事故应急预案",
        ),
    ],
    Industry.OTHER: [
        HazardKind(
            "群租房违规设置人员住宿且未设置独立疏散通道",
            "一层商铺",
            FIRE_STANDARD,
            "（GB 35181-2017）第6.2条",
            "清退住宿人员，拆除违规隔断",
            "火灾事故应急预案",
        ),
    ],
}

# How often each industry appears in a district like 南开区 (commerce and services, few heavy industries).
INDUSTRY_WEIGHTS: dict[Industry, int] = {
    Industry.FIRE: 22,
    Industry.CONSTRUCTION: 14,
    Industry.GAS: 12,
    Industry.INDUSTRY_TRADE: 10,
    Industry.HAZARDOUS_CHEMICALS: 6,
    Industry.SPECIAL_EQUIPMENT: 8,
    Industry.CULTURE_ENTERTAINMENT: 5,
    Industry.TRANSPORT: 4,
    Industry.MEDICAL: 4,
    Industry.EDUCATION: 4,
    Industry.ELDERLY_CARE: 4,
    Industry.TOURISM: 2,
    Industry.HAZARDOUS_WASTE: 2,
    Industry.SPORTS: 2,
    Industry.OTHER: 1,
}

ENTERPRISE_SUFFIXES: dict[Industry, list[str]] = {
    Industry.HAZARDOUS_CHEMICALS: ["化工有限公司", "化学试剂有限公司", "气体有限公司", "石油化工销售有限公司"],
    Industry.INDUSTRY_TRADE: ["机械制造有限公司", "食品有限公司", "金属制品有限公司", "印刷有限公司", "冷链有限公司"],
    Industry.CONSTRUCTION: ["建筑工程有限公司", "建设集团有限公司", "市政工程有限公司"],
    Industry.FIRE: ["商贸有限公司", "购物中心有限公司", "酒店管理有限公司", "商业管理有限公司"],
    Industry.GAS: ["餐饮管理有限公司", "燃气有限公司", "餐饮有限公司"],
    Industry.TRANSPORT: ["物流有限公司", "运输有限公司", "客运有限公司"],
    Industry.CULTURE_ENTERTAINMENT: ["娱乐有限公司", "影城有限公司", "文化传播有限公司"],
    Industry.TOURISM: ["旅游开发有限公司", "宾馆有限公司"],
    Industry.SPECIAL_EQUIPMENT: ["物业管理有限公司", "热力有限公司"],
    Industry.HAZARDOUS_WASTE: ["环保科技有限公司", "汽车维修有限公司"],
    Industry.MEDICAL: ["医院有限公司", "口腔门诊部有限公司"],
    Industry.EDUCATION: ["培训学校有限公司", "教育科技有限公司"],
    Industry.ELDERLY_CARE: ["养老服务有限公司", "颐养中心有限公司"],
    Industry.SPORTS: ["体育发展有限公司", "健身有限公司"],
    Industry.OTHER: ["商贸有限公司", "服务有限公司"],
}
TRADE_NAMES = [
    "恒达",
    "鑫源",
    "华盛",
    "瑞丰",
    "宏远",
    "天诚",
    "嘉禾",
    "博越",
    "中联",
    "永安",
    "金桥",
    "海泰",
    "润泽",
    "盛世",
    "泰和",
    "信诚",
    "鼎盛",
    "广源",
    "德顺",
    "福安",
    "汇丰",
    "聚力",
    "凯旋",
    "隆昌",
    "明远",
    "南洋",
    "启航",
    "荣达",
    "顺通",
    "通达",
    "万嘉",
    "祥和",
    "新港",
    "裕民",
    "正阳",
    "卓越",
    "津宏",
    "渤海",
    "海河",
    "立信",
]
SURNAMES = [
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "赵",
    "黄",
    "周",
    "吴",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "高",
    "林",
    "郑",
]
GIVEN_NAMES = [
    "强",
    "敏",
    "伟",
    "芳",
    "军",
    "静",
    "磊",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
    "刚",
    "华",
    "丽",
    "建国",
    "志强",
    "海燕",
    "春生",
    "立新",
]
ROADS = [
    "复康路",
    "卫津路",
    "红旗路",
    "白堤路",
    "鞍山西道",
    "南门外大街",
    "长江道",
    "黄河道",
    "西湖道",
    "宾水西道",
    "华苑路",
    "迎水道",
    "水上公园西路",
    "咸阳路",
    "南马路",
    "广开四马路",
    "密云路",
    "科研西路",
]
STREET_WEIGHTS = (9, 7, 8, 8, 9, 10, 7, 8, 11, 6, 8, 9)
CONTROLS: dict[InterimControlKind, str] = {
    InterimControlKind.CORDON: "设置警戒区域和警示标志，专人 24 小时值守",
    InterimControlKind.MONITORING: "安排专人巡查，每 2 小时检测记录一次",
    InterimControlKind.REDUCED_OPERATION: "相关设施降负荷运行，减少作业人员",
    InterimControlKind.SUSPENSION: "责令相关区域停产停业整顿",
    InterimControlKind.OTHER: "停用相关设施，设置临时防护",
}
CONTROL_LABELS = {CONTROL_KINDS[label]: label for label in CONTROL_KIND_LABELS}
RECTIFY_DAYS = (30, 45, 60, 60, 90, 90, 120, 150, 180)


@dataclass(frozen=True)
class Enterprise:
    name: str
    credit_code: str
    industry: Industry
    street: str
    address: str
    principal: str
    phone: str


@dataclass
class DemoLedger:
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Hazards chosen to escalate during the demonstration, and when their 函告 falls due.
    escalating: list[tuple[str, datetime]] = field(default_factory=list)


def org_code_check(first8: str) -> str:
    """组织机构代码 check character (GB 11714): positions 9-17 of a credit code are an organisation code."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(char, 36) * weight for char, weight in zip(first8, weights, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code(rng: random.Random, district_code: str) -> str:
    """A well-formed 统一社会信用代码 of an enterprise (9 1) registered in the district."""
    tail = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(5))
    org = f"MA0{tail}"
    first17 = f"91{district_code}{org}{org_code_check(org)}"
    return first17 + creditcode.check_character(first17)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def _phone(rng: random.Random) -> str:
    return rng.choice(("138", "139", "135", "150", "152", "158", "186", "187", "133", "189")) + "".join(
        rng.choice("0123456789") for _ in range(8)
    )


def _enterprises(rng: random.Random, district: District, count: int) -> Iterator[Enterprise]:
    industries = list(INDUSTRY_WEIGHTS)
    weights = list(INDUSTRY_WEIGHTS.values())
    names: set[str] = set()
    while len(names) < count:
        industry = rng.choices(industries, weights)[0]
        # A two-character 字号 first; two of them once the short ones run out (a big ledger).
        trade = rng.choice(TRADE_NAMES) if len(names) < len(TRADE_NAMES) * 20 else "".join(rng.sample(TRADE_NAMES, 2))
        name = f"天津市{district.name}{trade}{rng.choice(ENTERPRISE_SUFFIXES[industry])}"
        if name in names:
            continue
        names.add(name)
        yield Enterprise(
            name=name,
            credit_code=credit_code(rng, district.code),
            industry=industry,
            street=rng.choices(district.streets, STREET_WEIGHTS[: len(district.streets)])[0],
            address=f"{district.name}{rng.choice(ROADS)}{rng.randint(1, 299)}号",
            principal=_person(rng),
            phone=_phone(rng),
        )


def _found_on(rng: random.Random, today: date) -> date:
    """Some in the previous year (存量), most this year, more of them recently."""
    if rng.random() < 0.2:
        start, end = date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
        return start + timedelta(days=rng.randint(0, (end - start).days))
    days_this_year = (today - date(today.year, 1, 1)).days
    back = int(days_this_year * (1 - rng.random() ** 0.7))
    return today - timedelta(days=back)


def _stage(rng: random.Random, source: Source, age: int) -> Stage:
    if source is Source.TIP_OFF and age <= 75 and rng.random() < 0.6:
        return Stage.VERIFY
    if rng.random() < 0.03:
        return Stage.REVOKED
    if rng.random() < min(0.8, max(0.0, (age - 30) / 300)):
        return Stage.CLOSED
    if age <= 7:
        return Stage.PLAN if rng.random() < 0.7 else Stage.INTERIM_CONTROL
    if age <= 25:
        return rng.choices([Stage.PLAN, Stage.INTERIM_CONTROL, Stage.RECTIFY], [3, 1, 6])[0]
    return rng.choices([Stage.PLAN, Stage.RECTIFY, Stage.REVIEW], [1, 16, 3])[0]


def _between(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (last - first).days)))


class _Numbers:
    """Document numbers as a district writes them, counted per series and year."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], int] = {}

    def next(self, series: str, year: int) -> int:
        self._last[series, year] = self._last.get((series, year), 0) + 1
        return self._last[series, year]


def _row(
    rng: random.Random,
    enterprise: Enterprise,
    kind: HazardKind,
    source: Source,
    found: date,
    stage: Stage,
    today: date,
    numbers: _Numbers,
    district: District,
    doc_prefix: str,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "title": kind.title,
        "description": f"{enterprise.name}{kind.place}{kind.title}，经{SOURCE_LABELS[source]}发现。",
        "enterprise_name": enterprise.name,
        "credit_code": enterprise.credit_code,
        "street": enterprise.street,
        "industry": enterprise.industry.value,
        "department": district.departments[enterprise.industry],
        "source": SOURCE_LABELS[source],
        "criterion": f"{kind.standard}{kind.clause}",
        "found_on": found,
        "stage": stage.label,
        "location": f"{enterprise.address}{kind.place}",
        "principal_name": enterprise.principal,
        "principal_phone": enterprise.phone,
    }
    if stage is Stage.REVOKED:
        row["revocation_reason"] = rng.choice(
            ["经专家论证，不属于重大事故隐患，按一般隐患督促整改", "与已登记隐患重复，予以撤销"]
        )
        return row
    if stage in (Stage.VERIFY, Stage.PLAN):
        return row
    age = (today - found).days
    planned = found + timedelta(days=rng.randint(0, min(age, 7)))
    deadline = found + timedelta(days=rng.choice(RECTIFY_DAYS))
    complete = rng.random() < 0.85
    row |= {
        "measures": kind.measures,
        "responsible_person": _person(rng),
        "responsible_phone": _phone(rng),
        "rectify_deadline": deadline,
        "funds_wan": Decimal(rng.randint(5, 1200)) / 10 if complete or rng.random() < 0.5 else None,
        "emergency_plan": f"{kind.plan}（{found.year}版）" if complete else None,
        "plan_submitted_on": planned,
    }
    if stage is Stage.INTERIM_CONTROL:
        return row
    control = rng.choices(list(CONTROLS), [4, 4, 2, 1, 1])[0]
    row["control_kind"] = CONTROL_LABELS[control]
    row["control_measures"] = CONTROLS[control]
    if control is InterimControlKind.SUSPENSION:
        serial = numbers.next("责停", planned.year)
        row["suspension_order_no"] = f"{district.name.removesuffix('区')}应急责停〔{planned.year}〕{serial}号"
    if stage is Stage.RECTIFY:
        overdue = (today - deadline).days
        if overdue > 40 and rng.random() < 0.15:
            listed = _between(rng, deadline + timedelta(days=28), today)
            row |= {
                "listed": "是",
                "listed_on": listed,
                "listing_doc_number": f"{doc_prefix}挂〔{listed.year}〕{numbers.next('挂', listed.year)}号",
            }
        return row
    if stage is Stage.REVIEW:
        row["rectified_on"] = max(planned, today - timedelta(days=rng.randint(0, 20)))
        row["rectification_note"] = "已按整改方案完成整改，申请验收"
        return row
    rectified = _between(rng, planned + timedelta(days=5), min(today, deadline + timedelta(days=20)))
    row["rectified_on"] = min(rectified, today)
    row["rectification_note"] = "已按整改方案完成整改"
    row["closed_on"] = min(today, row["rectified_on"] + timedelta(days=rng.randint(1, 12)))
    return row


def _letter_day(now: datetime, calendar: WorkCalendar) -> date:
    """The working day whose office hours come next: today while the office is open, else the next one."""
    today = china_date(now)
    if calendar.is_workday(today) and now.hour < 16:
        return today
    return calendar.add_workdays(today, 1).day


def _escalating(
    rng: random.Random,
    enterprises: list[Enterprise],
    now: datetime,
    calendar: WorkCalendar,
    numbers: _Numbers,
    district: District,
    doc_prefix: str,
    seed: int,
    count: int,
) -> Iterator[tuple[dict[str, Any], datetime]]:
    """Hazards whose rectification fell due the working day before the next office day: their 函告 comes
    then, at a minute picked from their 隐患编号 (scheduling.office_time); numbers are tried until it falls
    minutes from now when the office is open."""
    letter_day = _letter_day(now, calendar)
    due = calendar.add_workdays(letter_day, -1).day
    earliest, latest = now + SOON[0], now + SOON[1]
    candidates = [e for e in enterprises if e.industry in (Industry.FIRE, Industry.CONSTRUCTION, Industry.GAS)]
    for n in range(count):
        enterprise = rng.choice(candidates or enterprises)
        kind = rng.choice(CATALOGUE[enterprise.industry])
        found = due - timedelta(days=rng.choice((30, 45, 60)))
        numbered = [f"NK{letter_day:%Y%m%d}-S{seed}-{n + 1:02d}{attempt:04d}" for attempt in range(5000)]
        times = {hazard_id: office_time(hazard_id, letter_day) for hazard_id in numbered}
        # The first number whose letter falls in the window; failing that, the soonest still to come.
        hazard_id = next(
            (h for h in numbered if earliest <= times[h] <= latest),
            min((h for h in numbered if times[h] > now), key=times.__getitem__),
        )
        today = china_date(now)
        row = _row(rng, enterprise, kind, Source.INSPECTION, found, Stage.RECTIFY, today, numbers, district, doc_prefix)
        row |= {"hazard_id": hazard_id, "rectify_deadline": due}
        yield row, times[hazard_id]


def generate(
    *, hazards: int, seed: int, now: datetime, calendar: WorkCalendar, district: District, doc_prefix: str
) -> DemoLedger:
    """`hazards` rows; `doc_prefix` starts the 文号 of the listings the ledger records (南开安委办挂〔2026〕3号)."""
    rng = random.Random(seed)
    today = china_date(now)
    enterprises = list(_enterprises(rng, district, max(30, hazards * 2 // 5)))
    numbers = _Numbers()
    ledger = DemoLedger()
    keys: set[tuple[str, str, date]] = set()
    escalating = min(ESCALATING, hazards // 30)
    while len(ledger.rows) < hazards - escalating:
        enterprise = rng.choice(enterprises)
        kind = rng.choice(CATALOGUE[enterprise.industry])
        found = _found_on(rng, today)
        if (enterprise.credit_code, kind.title, found) in keys:
            continue
        keys.add((enterprise.credit_code, kind.title, found))
        source = rng.choices([Source.INSPECTION, Source.SELF_INSPECTION, Source.TIP_OFF], [6, 3, 1])[0]
        stage = _stage(rng, source, (today - found).days)
        ledger.rows.append(_row(rng, enterprise, kind, source, found, stage, today, numbers, district, doc_prefix))
    for row, at in _escalating(rng, enterprises, now, calendar, numbers, district, doc_prefix, seed, escalating):
        ledger.rows.append(row)
        ledger.escalating.append((row["hazard_id"], at))
    ledger.rows.sort(key=lambda r: (r["found_on"], r["credit_code"]))
    return ledger


def _cell(value: Any) -> Any:
    if isinstance(value, date):
        return chinese_date(value)
    if isinstance(value, bool):
        return yes_no(value)
    return value


def write(out: IO[bytes], ledger: DemoLedger, *, district_name: str, today: date) -> None:
    """The ledger in the import template's layout (our export's columns, then the supplementary ones)."""
    workbook = new_workbook()
    columns = [c for c in COLUMNS if c.need != "ignored" or c.key == "number"]
    sheet = Sheet(
        workbook,
        "重大隐患督改台账",
        [Column(c.header, c.width) for c in columns],
        f"{district_name}重大事故隐患督改台账（演示数据）",
        f"截至{chinese_date(today)}",
    )
    for number, row in enumerate(ledger.rows, 1):
        values = {**row, "number": number}
        sheet.row([_cell(values.get(c.key)) for c in columns])
    workbook.save(out)
