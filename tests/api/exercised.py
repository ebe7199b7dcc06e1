"""Client operations that an API test runs with the variables of variables.json and
checks the answer of, with the test that does it. The contract test reads this."""

EXERCISED: dict[str, str] = {
    "UpsertLocations": "tests/api/test_admin_catalog.py::test_upsert_locations_as_the_console_sends_it",
    "UpsertChannel": "tests/api/test_admin_catalog.py::test_upsert_channel_as_the_console_sends_it",
    "UpsertProducts": "tests/api/test_admin_catalog.py::test_upsert_products_as_the_console_sends_it",
    "CreateApiKey": "tests/api/test_admin_catalog.py::test_create_api_key_as_the_console_sends_it",
    "IssueCustomerToken": "tests/api/test_access.py::test_channel_issues_customer_token",
    "SetStockLevels": "tests/api/test_inventory.py::test_set_stock_levels_as_the_wms_sends_it",
    "AdjustStock": "tests/api/test_inventory.py::test_adjust_stock_as_the_wms_sends_it",
    "StockLevels": "tests/api/test_inventory.py::test_stock_levels_as_the_console_reads_them",
    "LowStock": "tests/api/test_inventory.py::test_low_stock_lists_levels_at_or_below_their_reorder_point",
    "Availability": "tests/api/test_availability.py::test_availability_as_the_storefront_asks",
    "FulfillmentOptions": "tests/api/test_availability.py::test_fulfillment_options_as_the_storefront_asks",
    "PlaceOrder": "tests/api/test_orders.py::test_place_order_as_the_storefront_sends_it",
    "CancelOrder": "tests/api/test_orders.py::test_cancel_order_releases_exactly_what_was_reserved",
    "OrderByExternalId": "tests/api/test_orders.py::test_reading_orders_as_each_client_does",
    "MyOrders": "tests/api/test_orders.py::test_reading_orders_as_each_client_does",
    "Orders": "tests/api/test_orders.py::test_reading_orders_as_each_client_does",
    "OrderHistory": "tests/api/test_orders.py::test_reading_orders_as_each_client_does",
    "SourcingPreview": "tests/api/test_orders.py::test_sourcing_preview_reserves_nothing",
}
