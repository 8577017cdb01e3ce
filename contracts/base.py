from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, WithJsonSchema

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
# Mobile (11 digits) or landline with area code. The pattern binds what is sent in: answers show the number masked
# (138****0000) to readers who may not see it (api/jurisdiction.py), and their schema says so.
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^(1\d{10}|0\d{2,3}-?\d{7,8})$"),
    WithJsonSchema({"type": "string", "description": "masked (138****0000) for some readers"}, mode="serialization"),
]
# 统一社会信用代码: 18 characters from GB 32100's alphabet (no I, O, Z, S, V).
CreditCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")
]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)
