from enum import StrEnum


class Stage(StrEnum):
    VERIFY = "VERIFY"
    PLAN = "PLAN"
    INTERIM_CONTROL = "INTERIM_CONTROL"
    RECTIFY = "RECTIFY"
    REVIEW = "REVIEW"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"

    @property
    def is_terminal(self) -> bool:
        return self in (Stage.CLOSED, Stage.REVOKED)

    @property
    def label(self) -> str:
        return STAGE_LABELS[self]


STAGE_LABELS: dict[Stage, str] = {
    Stage.VERIFY: "查实",
    Stage.PLAN: "制定整改方案",
    Stage.INTERIM_CONTROL: "临时管控",
    Stage.RECTIFY: "整改",
    Stage.REVIEW: "审核验收",
    Stage.CLOSED: "已销号",
    Stage.REVOKED: "已撤销",
}


class Role(StrEnum):
    ENTERPRISE = "enterprise"
    STREET = "street"
    DEPARTMENT = "department"
    COMMITTEE_OFFICE = "committee_office"
    AUDITOR = "auditor"


ROLE_LABELS: dict[Role, str] = {
    Role.ENTERPRISE: "企业",
    Role.STREET: "街道",
    Role.DEPARTMENT: "行业部门",
    Role.COMMITTEE_OFFICE: "区安委办",
    Role.AUDITOR: "审计",
}


class Source(StrEnum):
    SELF_INSPECTION = "self_inspection"
    INSPECTION = "inspection"
    TIP_OFF = "tip_off"


class Industry(StrEnum):
    HAZARDOUS_CHEMICALS = "危险化学品"
    TRANSPORT = "交通运输"
    CONSTRUCTION = "建筑施工"
    FIRE = "消防"
    GAS = "燃气"
    INDUSTRY_TRADE = "工贸"
    CULTURE_ENTERTAINMENT = "文化娱乐"
    TOURISM = "旅游"
    SPECIAL_EQUIPMENT = "特种设备"
    HAZARDOUS_WASTE = "危险废物"
    MEDICAL = "医疗卫生"
    EDUCATION = "教育"
    ELDERLY_CARE = "养老"
    SPORTS = "体育"
    OTHER = "其他"


class Action(StrEnum):
    """Every state-changing action on a hazard; also the event names kept in its history."""

    REPORT = "report"
    VERIFY = "verify"
    SUBMIT_PLAN = "submit_plan"
    CONFIRM_INTERIM_CONTROL = "confirm_interim_control"
    REPORT_RECTIFICATION = "report_rectification"
    REVIEW = "review"
    REVOKE = "revoke"
    REQUEST_EXTENSION = "request_extension"
    DECIDE_EXTENSION = "decide_extension"
    LIST = "list"
    DELIST = "delist"
    PUBLISH = "publish"
    TRANSFER = "transfer"
    ESCALATE = "escalate"  # taken by the service itself when a deadline slips


class InterimControlKind(StrEnum):
    CORDON = "cordon"
    MONITORING = "monitoring"
    REDUCED_OPERATION = "reduced_operation"
    SUSPENSION = "suspension"
    OTHER = "other"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class PublicationOf(StrEnum):
    LISTING = "listing"
    DELISTING = "delisting"
