"""Every error the API answers, as RFC 9457 problem+json with a stable code and Chinese title and detail."""

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from contracts.errors import ErrorType

log = structlog.get_logger("api")

PROBLEM_JSON = "application/problem+json"

# What a 503 asks a client to wait before trying again.
RETRY_AFTER_SECONDS = 5
ERROR_STATUS: dict[ErrorType, int] = {
    ErrorType.STAGE_CONFLICT: 409,
    ErrorType.ROLE_FORBIDDEN: 403,
    ErrorType.MAKER_CHECKER: 403,
    ErrorType.INVALID_PAYLOAD: 422,
    ErrorType.LISTING_ACTIVE: 409,
    ErrorType.OUT_OF_JURISDICTION: 404,
}

ERROR_TITLES: dict[ErrorType, str] = {
    ErrorType.STAGE_CONFLICT: "当前阶段不能执行此操作",
    ErrorType.ROLE_FORBIDDEN: "无权执行此操作",
    ErrorType.MAKER_CHECKER: "不能审核本人报告的整改",
    ErrorType.INVALID_PAYLOAD: "提交的数据不合法",
    ErrorType.LISTING_ACTIVE: "挂牌督办的隐患须先摘牌",
    ErrorType.OUT_OF_JURISDICTION: "隐患不存在",
}

STATUS_TITLES: dict[int, str] = {
    400: "请求不合法",
    401: "未登录或登录凭证无效",
    403: "无权执行此操作",
    404: "隐患不存在",
    405: "不支持该请求方法",
    409: "当前阶段不能执行此操作",
    413: "请求体过大",
    422: "提交的数据不合法",
    503: "服务暂不可用",
}

FRAMEWORK_DETAILS: dict[str, str] = {
    "There was an error parsing the body": "无法解析请求体：应为 UTF-8 编码的 JSON，且嵌套不能过深",
}

FIELD_MESSAGES: dict[str, str] = {
    "missing": "必填",
    "string_too_short": "不能为空",
    "string_too_long": "长度不能超过 {max_length} 个字符",
    "string_pattern_mismatch": "格式不正确",
    "string_type": "应为文本",
    "enum": "取值必须是以下之一：{expected}",
    "literal_error": "取值必须是以下之一：{expected}",
    "date_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "应为日期，不含时间",
    "date_type": "应为日期 YYYY-MM-DD",
    "datetime_parsing": "时间格式不正确，应为 ISO 8601，例如 2026-11-23T09:30:00+08:00",
    "datetime_from_date_parsing": "时间格式不正确，应为 ISO 8601，例如 2026-11-23T09:30:00+08:00",
    "datetime_type": "应为时间，例如 2026-11-23T09:30:00+08:00",
    "timezone_aware": "时间必须带时区，例如 +08:00",
    "greater_than_equal": "不能小于 {ge}",
    "less_than_equal": "不能大于 {le}",
    "decimal_max_digits": "数字位数不能超过 {max_digits} 位",
    "decimal_max_places": "小数不能超过 {decimal_places} 位",
    "decimal_parsing": "应为数字",
    "decimal_type": "应为数字",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "extra_forbidden": "不允许的字段",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "list_type": "应为列表",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "json_invalid": "请求体不是合法的 JSON",
    "json_type": "请求体不是合法的 JSON",
}


class FieldError(BaseModel):
    field: str = Field(description="the field, dotted (e.g. enterprise.credit_code), or body")
    message: str


class ProblemDetails(BaseModel):
    """The body of every error answer (RFC 9457), as the OpenAPI documents it."""

    # Some problems add members of their own (stage, max_bytes, failing...).
    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="urn:xiaohao:problem:<code>")
    code: str = Field(description="stable, for programs")
    title: str = Field(description="in Chinese, for people")
    status: int
    detail: str = Field(description="in Chinese: what was wrong and, where it helps, what to do")
    instance: str
    errors: list[FieldError] | None = Field(default=None, description="each bad field, for 422")


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title or STATUS_TITLES.get(status, "请求失败")
        self.detail = detail
        self.extra = extra


def not_found(hazard_id: str) -> Problem:
    return Problem(404, "HazardNotFound", f"未找到编号为 {hazard_id} 的隐患")


def temporal_unavailable() -> Problem:
    return Problem(503, "TemporalUnavailable", "工作流引擎暂时无法访问，请稍后重试")


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    body = {
        "type": f"urn:xiaohao:problem:{problem.code}",
        "code": problem.code,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
        **problem.extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    if problem.status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    out = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
        # Union members and validators add their own names to the location; the reader wants the field.
        loc = [part for part in loc if not part.startswith(("function-", "constrained-"))]
        template = FIELD_MESSAGES.get(error.get("type", ""), "数据不合法")
        try:
            message = template.format(**error.get("ctx", {}))
        except (KeyError, IndexError):
            message = template
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def from_application_error(err: ApplicationError) -> Problem:
    error = next((e for e in ErrorType if e.value == err.type), None)
    details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
    if error is None:
        log.error("unexpected workflow failure", type=err.type, message=err.message)
        return Problem(500, "InternalError", "服务内部错误，请联系运维人员", title="服务内部错误")
    extra: dict[str, Any] = {}
    if error is ErrorType.INVALID_PAYLOAD:
        extra["errors"] = [{"field": details.get("field", "body"), "message": err.message}]
    if "stage" in details:
        extra["stage"] = details["stage"]
    return Problem(ERROR_STATUS[error], error.value, err.message, title=ERROR_TITLES[error], **extra)


def from_rpc_error(err: RPCError) -> Problem:
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return temporal_unavailable()
    log.error("temporal rpc failed", status=err.status.name, message=err.message)
    return Problem(500, "InternalError", "服务内部错误，请联系运维人员", title="服务内部错误")


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every error answer in the OpenAPI as it is sent: problem+json, with the Problem schema (FastAPI would
    document its own 422 body and none for the rest). Each call with a bearer token may also be a 401, and each
    with a body a 400 (a body that cannot be parsed at all) or a 413 (api.body_limit)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")["$defs"])
    schemas["Problem"] = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["Problem"].pop("$defs")
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in openapi.get("paths", {}).values():
        for operation in operations.values():
            responses = operation["responses"]
            if operation.get("security"):
                responses.setdefault("401", {"description": "no token, or one invalid or expired"})
            if "requestBody" in operation:
                responses.setdefault(
                    "400", {"description": "the body cannot be parsed (not UTF-8 JSON, or nested too deep)"}
                )
                responses.setdefault("413", {"description": "the body is larger than the limit"})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = content
                    if status == "422" and response.get("description") == "Validation Error":
                        response["description"] = "invalid data (each bad field named in `errors`)"
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return openapi


def install(app: FastAPI) -> None:
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI builds the document once and keeps it in openapi_schema; it is amended the first time.
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(build_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        detail = "；".join(f"{e['field']}：{e['message']}" for e in errors)
        return problem_response(Problem(422, "InvalidPayload", detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else STATUS_TITLES.get(exc.status_code, "请求失败")
        # FastAPI's own words for a body it could not parse at all (not UTF-8, nested beyond any reason).
        detail = FRAMEWORK_DETAILS.get(detail, detail)
        if exc.status_code == 404:
            detail = "请求的资源不存在"
        return problem_response(Problem(exc.status_code, f"Http{exc.status_code}", detail), request)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update_failed(request: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            return problem_response(from_application_error(cause), request)
        log.error("update failed", cause=repr(cause))
        return problem_response(Problem(500, "InternalError", "服务内部错误，请联系运维人员"), request)

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_exhausted(request: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
        # Every database connection stayed busy for the pool's whole timeout: more load than this process
        # serves. A 503 with Retry-After tells clients (and a load balancer) to come back, not that we broke.
        log.warning("database connection pool exhausted", path=request.url.path)
        return problem_response(Problem(503, "ServiceBusy", "服务繁忙，请稍后重试"), request)

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, exc: RPCError) -> JSONResponse:
        return problem_response(from_rpc_error(exc), request)
