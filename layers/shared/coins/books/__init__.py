"""The books: the full audit and the daily statement, as SQL over DynamoDB's export of the table.

The same SQL runs on Athena when deployed and on DuckDB locally (`make audit`, `make statement`),
over the same files: DynamoDB's export format (docs/books.md). Nothing here speaks DynamoDB.
"""
