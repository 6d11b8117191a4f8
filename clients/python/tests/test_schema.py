"""The SDK's models against the served OpenAPI document: every model named like a schema
has exactly the schema's fields (camelCase on the wire), so a field the server adds, renames
or drops fails here instead of being silently ignored or missing."""

import dataclasses
import json
import urllib.request

from pyth_on import _models
from pyth_on._models import to_camel

# SDK models named differently from their schema, and schemas a model deliberately shapes
# otherwise (a stream event, a page with its own paging fields).
RENAMED = {"ExecuteResult": "ExecuteResponse", "CellResult": "CellResponse",
           "GenerateResult": "GenerateResponse", "Invitation": "InvitationInfo",
           "SignIn": "SignInInfo", "AdminUserPage": "AdminUserList",
           "SecretMetadata": "SecretMetadata", "EncryptedCodeMetadata": "EncryptedCodeMetadata"}


def test_every_model_has_exactly_its_schemas_fields(server):
    with urllib.request.urlopen(f"{server.url}/api/openapi.json") as answer:
        schemas = json.load(answer)["components"]["schemas"]
    checked = []
    for name, cls in vars(_models).items():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        schema = schemas.get(RENAMED.get(name, name))
        if schema is None or "properties" not in schema:
            continue
        fields = {to_camel(f.name) for f in dataclasses.fields(cls)}
        assert fields == set(schema["properties"]), (
            f"{name}: SDK-only {sorted(fields - set(schema['properties']))}, "
            f"server-only {sorted(set(schema['properties']) - fields)}"
        )
        checked.append(name)
    assert len(checked) >= 30, checked
