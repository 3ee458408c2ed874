from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """DRF-style pages: {count, next, previous, results}; ?page_size= up to 500 (API.md)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
