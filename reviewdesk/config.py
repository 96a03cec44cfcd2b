"""The one config file: businesses and their review sources, validated at start-up."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crawlers.items import ReviewItem

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MAPPABLE_FIELDS = tuple(f for f in ReviewItem.model_fields if f not in ("source", "platform", "extra"))


class ConfigError(Exception):
    """The config file is missing or invalid; the message names the file, key and expectation."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("expected an http:// or https:// URL")
    return value


class ReplyTarget(_Strict):
    """Where approved replies to this source's reviews are posted (publishing connectors)."""

    connector: Literal["manual", "google", "appstore_connect", "trustpilot"] = Field(
        default="manual",
        description="manual = copy-ready reply plus `reviewdesk mark-posted`; others post through the platform API.",
    )
    # Connector-specific ids (Google account/location, App Store app id, Trustpilot business unit); no secrets.
    params: dict[str, str] = Field(default_factory=dict, description="Connector ids, e.g. location = '123'.")
    max_chars: int | None = Field(default=None, ge=100, description="Override the platform's reply length limit.")


class _SourceBase(_Strict):
    name: str = Field(pattern=NAME_PATTERN, description="Unique source name: lower case, digits, - and _.")
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2,3}$", description="Expected review language (ISO 639-1)."
    )
    enabled: bool = True
    max_pages: int | None = Field(default=None, ge=1, description="Stop after this many pages.")
    max_age_days: int | None = Field(default=None, ge=1, description="Stop at reviews older than this.")
    overlap: int = Field(default=20, ge=1, description="Known reviews in a row that end a daily run.")
    reply: ReplyTarget = Field(default_factory=ReplyTarget, description="How replies to this source are posted.")

    def target(self) -> str:
        """The URL or platform id this source reads."""
        raise NotImplementedError

    def spider_args(self) -> dict[str, str]:
        """Arguments for ``scrapy crawl`` (-a name=value)."""
        args = {"source": self.name, "overlap": str(self.overlap)}
        if self.max_pages is not None:
            args["max_pages"] = str(self.max_pages)
        if self.max_age_days is not None:
            args["max_age_days"] = str(self.max_age_days)
        return args


class TrustpilotSource(_SourceBase):
    """A company's public Trustpilot review pages."""

    platform: Literal["trustpilot"]
    url: str = Field(description="The company's review page, e.g. https://www.trustpilot.com/review/acme.com")

    _check_url = field_validator("url")(classmethod(lambda cls, v: _http_url(v)))

    def target(self) -> str:
        """The review page URL."""
        return self.url

    def spider_args(self) -> dict[str, str]:
        """Arguments for the trustpilot spider."""
        return {**super().spider_args(), "start_url": self.url}


class SchemaOrgSource(_SourceBase):
    """Any pages with schema.org Review markup, listed or found through a sitemap."""

    platform: Literal["schema_org"]
    urls: list[str] = Field(default_factory=list, description="Pages with schema.org reviews.")
    sitemap: str | None = Field(default=None, description="A sitemap.xml listing such pages.")
    sitemap_filter: str | None = Field(default=None, description="Regex: only sitemap URLs matching it.")

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            _http_url(url)
        return value

    @field_validator("sitemap")
    @classmethod
    def _check_sitemap(cls, value: str | None) -> str | None:
        return _http_url(value) if value is not None else None

    @model_validator(mode="after")
    def _one_of(self) -> SchemaOrgSource:
        if not self.urls and not self.sitemap:
            raise ValueError("expected 'urls' (a list of pages) or 'sitemap' (a sitemap.xml URL)")
        return self

    def target(self) -> str:
        """The sitemap or the first page."""
        return self.sitemap or self.urls[0]

    def spider_args(self) -> dict[str, str]:
        """Arguments for the schema_org spider."""
        args = super().spider_args()
        if self.sitemap:
            args["sitemap"] = self.sitemap
            if self.sitemap_filter:
                args["sitemap_filter"] = self.sitemap_filter
        if self.urls:
            args["urls"] = ",".join(self.urls)
        return args


class AppstoreSource(_SourceBase):
    """An iOS app's public customer-reviews feed in one storefront."""

    platform: Literal["appstore"]
    app_id: str = Field(pattern=r"^\d+$", description="The numeric App Store id, e.g. 284882215")
    country: str = Field(default="us", pattern=r"^[a-z]{2}$", description="Storefront, e.g. us, pl, hu")
    feed_base: str = Field(default="https://itunes.apple.com", description="Feed host (tests use loopback).")

    def target(self) -> str:
        """The app id and storefront."""
        return f"{self.app_id}@{self.country}"

    def spider_args(self) -> dict[str, str]:
        """Arguments for the appstore spider."""
        return {
            **super().spider_args(),
            "app_id": self.app_id,
            "country": self.country,
            "feed_base": self.feed_base,
        }


class ImportSource(_SourceBase):
    """Exports from other platforms, loaded with ``reviewdesk import FILE --source NAME``."""

    platform: Literal["import"]
    format: Literal["csv", "jsonl"] | None = Field(default=None, description="Default: by file suffix.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Review field -> column name in the export (e.g. rating = 'Stars').",
    )
    date_format: str | None = Field(default=None, description="strptime format when dates are not ISO 8601.")
    rating_scale: float = Field(default=5, gt=0, description="Best rating in the export (10 for 1-10).")
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(MAPPABLE_FIELDS))
        if unknown:
            raise ValueError(f"unknown review field(s) {unknown}; expected some of {list(MAPPABLE_FIELDS)}")
        return value

    def target(self) -> str:
        """Imports have no remote target."""
        return "file import"


Source = Annotated[
    TrustpilotSource | SchemaOrgSource | AppstoreSource | ImportSource,
    Field(discriminator="platform"),
]


class Business(_Strict):
    """A business we watch: our own, or a competitor."""

    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1)
    role: Literal["own", "competitor"] = "own"
    sources: list[Source] = Field(default_factory=list)
    playbook: Path | None = Field(
        default=None, description="The business's reply playbook (YAML), relative to the config file."
    )
    taxonomy: list[Path] = Field(
        default_factory=list,
        description="Topic files (YAML) for this business only, after settings.taxonomy: add topics, or "
                    "`enabled: false` for built-in ones that do not apply (food_drink for a shop).",
    )
    type: str | None = Field(
        default=None, min_length=1,
        description="What kind of business: restaurant, hotel, shop, app or local_service (models/taxonomy/types), "
                    "or a YAML type file of your own, relative to the config file. Only the type's topics can fire.",
    )


class ResponsesSettings(_Strict):
    """How replies are drafted and how fast they are due."""

    variants: int = Field(default=3, ge=1, le=3, description="Draft variants per review.")
    sla_hours: float = Field(default=24, gt=0, description="A review without a published reply after this is overdue.")
    default_playbook: Path | None = Field(default=None, description="Playbook for businesses without their own.")
    generator: str = Field(
        default="phrasebook-v1",
        description="Who words the drafts: phrasebook-v1 (offline, default) or 'module:Class' (e.g. a local LLM).",
    )


class PublishSettings(_Strict):
    """The outbox: delay, kill switch, retries. Credentials never live here."""

    enabled: bool = Field(
        default=True, description="Kill switch: false stops all posting (also REVIEWDESK_PUBLISH_DISABLED=1)."
    )
    delay_minutes: float = Field(default=10, ge=0, description="Wait after approval before posting (time to undo).")
    max_attempts: int = Field(default=5, ge=1, le=50, description="Transient failures retried up to this many times.")
    secrets_file: Path | None = Field(default=None, description="TOML file with connector credentials (mode 600).")


class AlertsSettings(_Strict):
    """Urgent-review alerts: where they go and what counts as a negative spike. Secrets by env var name only."""

    severity: bool = Field(default=True, description="Alert on every new severity-flagged review of our own.")
    webhook_url_env: str | None = Field(
        default=None, description="Name of the env var holding a Slack-compatible incoming-webhook URL."
    )
    email_to: list[str] = Field(default_factory=list, description="Recipients of alert e-mails.")
    email_from: str = Field(default="reviewdesk@localhost", description="Sender address of alert e-mails.")
    smtp_host: str = Field(default="localhost", description="SMTP server.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = Field(default=False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_user_env: str | None = Field(default=None, description="Env var with the SMTP user name.")
    smtp_password_env: str | None = Field(default=None, description="Env var with the SMTP password.")
    spike_window_hours: float = Field(default=24, gt=0, description="Recent window the negative share is taken over.")
    spike_baseline_days: float = Field(default=28, gt=0, description="Trailing baseline before the window.")
    spike_min_reviews: int = Field(default=5, ge=1, description="No spike alert on fewer reviews in the window.")
    spike_ratio: float = Field(default=2.0, gt=1, description="Window negative share must be this many times baseline.")
    spike_min_share: float = Field(default=0.4, gt=0, le=1, description="...and at least this share of the window.")
    spike: bool = Field(default=True, description="Alert on a negative spike (thresholds above).")
    spike_competitors: bool = Field(
        default=False, description="Watch competitors for negative spikes too (their single reviews never alert)."
    )
    severity_max_age_days: float = Field(
        default=7, gt=0, description="Older escalations and reviews never alert (a first run does not replay history)."
    )
    max_attempts: int = Field(
        default=5, ge=1, le=50, description="A delivery failing transiently is retried on later runs up to this many."
    )


class ReportSettings(_Strict):
    """Trend reports for marketing."""

    timezone: str = Field(default="UTC", description="IANA time zone for weeks, months and the Monday report.")
    output_dir: Path = Field(default=Path("reports"), description="Where CSV, Parquet and HTML reports are written.")
    weeks: int = Field(default=12, ge=1, le=520, description="Weeks shown in the weekly report.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as Europe/Warsaw, got {value!r}") from None
        return value


class Settings(_Strict):
    """Where data lives and how politely we crawl."""

    database: Path = Field(default=Path("reviewdesk.duckdb"), description="The DuckDB file.")
    data_dir: Path = Field(default=Path("data"), description="Raw layer: JSONL feeds, manifests, logs.")
    user_agent: str = Field(
        default="ReviewdeskBot/0.1 (+https://github.com/reviewdesk/reviewdesk; review monitoring)",
        min_length=8,
    )
    crawl_concurrency: int = Field(default=2, ge=1, le=16, description="Sources crawled at once.")
    crawl_timeout_s: int = Field(default=3600, ge=10, description="A source's crawl is stopped after this.")
    download_delay_s: float = Field(default=1.0, ge=0, description="Minimum delay between requests.")
    obey_robots_txt: bool = True
    autothrottle: bool = Field(default=True, description="Slow down when a site answers slowly (Scrapy AutoThrottle).")
    lock_timeout_s: float = Field(default=120, gt=0, description="Wait for another process's write.")
    taxonomy: list[Path] = Field(
        default_factory=list,
        description="Topic files (YAML) merged over the built-in taxonomy for every business, relative to the "
                    "config file (models/taxonomy/topics.yaml shows the layout).",
    )


class Config(_Strict):
    """The whole config file."""

    settings: Settings = Field(default_factory=Settings)
    responses: ResponsesSettings = Field(default_factory=ResponsesSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    businesses: list[Business] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Config:
        seen_b: set[str] = set()
        seen_s: set[str] = set()
        for b in self.businesses:
            if b.id in seen_b:
                raise ValueError(f"business id {b.id!r} is used twice; expected unique ids")
            seen_b.add(b.id)
            for s in b.sources:
                if s.name in seen_s:
                    raise ValueError(f"source name {s.name!r} is used twice; expected unique names")
                seen_s.add(s.name)
        return self

    def all_sources(self) -> list[tuple[Business, Any]]:
        """Every (business, source) pair in file order."""
        return [(b, s) for b in self.businesses for s in b.sources]

    def source(self, name: str) -> tuple[Business, Any]:
        """The source with this name, or ConfigError listing the known ones."""
        for business, source in self.all_sources():
            if source.name == name:
                return business, source
        known = ", ".join(s.name for _, s in self.all_sources()) or "none"
        raise ConfigError(f"no source named {name!r} in the config (known: {known})")


def _key_path(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Turn a pydantic location into the key a person would look for: businesses[0].sources[1].url."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
            continue
        if isinstance(node, dict) and item not in node and item in (
            "trustpilot", "schema_org", "appstore", "import"
        ):
            # Discriminated unions add the platform as a location step; it is not a key in the file.
            continue
        parts.append(("." if parts else "") + str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


_PATTERN_HELP = {
    NAME_PATTERN: "expected lower-case letters, digits, '-' or '_' (starting with a letter or digit)",
    r"^\d+$": "expected digits only (the numeric App Store id)",
    r"^[a-z]{2}$": "expected a two-letter lower-case code such as 'us'",
    r"^[a-z]{2,3}$": "expected an ISO 639 language code such as 'en'",
}


def _describe(error: dict[str, Any]) -> str:
    msg = str(error["msg"])
    if error["type"] == "string_pattern_mismatch":
        msg = _PATTERN_HELP.get(str((error.get("ctx") or {}).get("pattern")), msg)
    msg = msg.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown key (check the spelling; `reviewdesk init` writes an example)"
    if error["type"] == "missing":
        return "required key is missing"
    if error["type"] == "union_tag_invalid":
        return "expected platform to be one of trustpilot, schema_org, appstore, import"
    if error["type"] == "union_tag_not_found":
        return "missing key 'platform' (one of trustpilot, schema_org, appstore, import)"
    got = error.get("input")
    if got is not None and not isinstance(got, dict | list) and "got" not in msg:
        return f"{msg}, got {got!r}"
    return msg


def load_config(path: Path) -> Config:
    """Read and validate the config; any problem raises ConfigError with file, key and expectation."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found (create one with `reviewdesk init`)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: expected a UTF-8 text file") from None
    return parse_config(data, path)


def parse_config(data: dict[str, Any], path: Path | str = "<config>") -> Config:
    """Validate already-parsed config data."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = _key_path(error["loc"], data)
            if error["type"].startswith("union_tag"):
                key += ".platform"
            lines.append(f"{path}: {key}: {_describe(dict(error))}")
        raise ConfigError("\n".join(lines)) from None


def taxonomy_by_business(config: Config, config_file: Path | str) -> dict[str, tuple[str, ...]]:
    """Per business id: the topic files its reviews are analysed with (its type's, settings.taxonomy, then its own).

    Paths are made absolute (relative ones are read from the config file's folder) and every business's merged
    taxonomy is loaded once here, so a missing or invalid file is a ConfigError naming the config key.
    """
    from models.topics import TaxonomyError, business_type_file, load_taxonomy

    config_file = Path(config_file)
    base = config_file.parent

    def resolve(paths: list[Path]) -> tuple[str, ...]:
        return tuple(str(p if p.is_absolute() else (base / p).resolve()) for p in paths)

    shared = resolve(config.settings.taxonomy)
    out: dict[str, tuple[str, ...]] = {}
    checked: set[tuple[str, ...]] = set()
    for i, business in enumerate(config.businesses):
        kind: tuple[str, ...] = ()
        if business.type:
            try:
                kind = (str(business_type_file(business.type, base).resolve()),)
            except TaxonomyError as exc:
                raise ConfigError(f"{config_file}: businesses[{i}].type: {exc}") from None
        files = kind + shared + resolve(business.taxonomy)
        if files and files not in checked:
            # Merge one more file at a time, so an error (e.g. a topic left without examples) names its key.
            for k in range(len(files)):
                j = k - len(kind)
                key = (f"businesses[{i}].type" if j < 0 else f"settings.taxonomy[{j}]" if j < len(shared)
                       else f"businesses[{i}].taxonomy[{j - len(shared)}]")
                try:
                    load_taxonomy(list(files[: k + 1]))
                except TaxonomyError as exc:
                    raise ConfigError(f"{config_file}: {key}: {exc}") from None
            checked.add(files)
        out[business.id] = files
    return out


def taxonomy_by_source(config: Config, config_file: Path | str) -> dict[str, tuple[str, ...]]:
    """Per source name: its business's topic files (see taxonomy_by_business)."""
    files = taxonomy_by_business(config, config_file)
    return {source.name: files[business.id] for business, source in config.all_sources()}
