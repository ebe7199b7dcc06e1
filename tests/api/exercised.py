"""Client operations that an API test runs with the variables of variables.json and
checks the answer of, with the test that does it. The contract test reads this."""

EXERCISED: dict[str, str] = {
    "UpsertLocations": "tests/api/test_admin_catalog.py::test_upsert_locations_as_the_console_sends_it",
    "UpsertChannel": "tests/api/test_admin_catalog.py::test_upsert_channel_as_the_console_sends_it",
    "UpsertProducts": "tests/api/test_admin_catalog.py::test_upsert_products_as_the_console_sends_it",
    "CreateApiKey": "tests/api/test_admin_catalog.py::test_create_api_key_as_the_console_sends_it",
    "IssueCustomerToken": "tests/api/test_access.py::test_channel_issues_customer_token",
}
