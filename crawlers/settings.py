"""Scrapy settings for Reviewdesk: polite by default.

Values here are defaults for ``scrapy crawl`` run by hand; ``reviewdesk crawl`` passes the
configured User-Agent, limits and delays with ``-s``.
"""

BOT_NAME = "reviewdesk"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

# An honest, identifying User-Agent; override per deployment with -s USER_AGENT=... or the config.
USER_AGENT = "ReviewdeskBot/0.1 (+https://github.com/reviewdesk/reviewdesk; review monitoring)"

ROBOTSTXT_OBEY = True

# Low per-domain concurrency and an adaptive delay: review sites are somebody else's servers.
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30

# Retries with exponential backoff; 429 and 503 honour Retry-After (crawlers.middlewares).
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
REVIEWDESK_BACKOFF_BASE = 2.0
REVIEWDESK_BACKOFF_MAX = 120.0
REVIEWDESK_RETRY_AFTER_MAX = 300.0

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
}

ITEM_PIPELINES = {
    "crawlers.pipelines.ValidateReview": 100,
    "crawlers.pipelines.DropDuplicates": 200,
}

EXTENSIONS = {
    "crawlers.extensions.RunManifest": 500,
}

FEED_EXPORT_ENCODING = "utf-8"
# Items are dicts with fixed keys; keep output stable for diffing raw feeds.
FEED_EXPORT_INDENT = None

# Development: HTTPCACHE_ENABLED=1 on the command line keeps pages on disk between runs.
HTTPCACHE_ENABLED = False
HTTPCACHE_DIR = "httpcache"

LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
