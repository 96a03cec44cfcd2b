"""Named failures of page extraction: spiders turn them into retries or a source health status."""


class ExtractionError(Exception):
    """A page could not be turned into review items."""


class EmptyPage(ExtractionError):
    """The server answered with an empty body where a review page was expected."""


class PartialPage(ExtractionError):
    """The page is truncated or its embedded data is broken; a retry may get a whole copy."""


class LayoutChanged(ExtractionError):
    """The page is whole but holds no review data we recognise: the site's layout changed."""
