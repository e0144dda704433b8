from tests.tenants.support import cached_login  # noqa: F401  (faster `login` for these suites)
