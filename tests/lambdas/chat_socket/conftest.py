"""The connections table (its definition from the synthesized LiveStack) and the function's environment."""

from __future__ import annotations

import pytest

from lambdas.common.connections import ConnectionStore

TABLE = "tandem-live-connections"


@pytest.fixture
def aws(aws, set_environment):
    aws.create("connections_table", TABLE)
    set_environment({"CONNECTIONS_TABLE": TABLE})
    aws.connections = ConnectionStore(table_name=TABLE)
    return aws
