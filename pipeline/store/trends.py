"""SQL for the trends area (migration 005_monitoring); mixed into `pipeline.store.Connection`.

Definitions of every metric are in docs/trends.md; the comments here say why the SQL does what it does.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa

from pipeline.store._base import SQLBase

# One row per (period, group, metric[, topic]); the column order of the CSV and Parquet exports.
TREND_SCHEMA = pa.schema(
    [
        ("period_kind", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("complete", pa.bool_()),
        ("scope", pa.string()),
        ("role", pa.string()),
        ("business_id", pa.string()),
        ("source", pa.string()),
        ("metric", pa.string()),
        ("topic", pa.string()),
        ("value", pa.float64()),
        ("n", pa.int64()),
    ]
)

# Ratings are rounded to whole stars (x.5 up) before the NPS-proxy split, so imports rescaled from a 1-10
# scale (9/10 -> 4.56) land where their star would: >= 4.5 is 5 stars, < 3.5 is 1-3 stars.
_PROMOTER_MIN = 4.5
_DETRACTOR_BELOW = 3.5

_TRENDS_SQL = """
WITH latest AS (
    -- A review's latest analysis, whatever model wrote it; ties broken by model version for a stable answer.
    SELECT review_id, sentiment, topics FROM analyses
    QUALIFY row_number() OVER (PARTITION BY review_id ORDER BY analyzed_at DESC, model_version DESC) = 1),
ours AS (
    SELECT review_id, min(published_at) AS at FROM drafts WHERE published_at IS NOT NULL GROUP BY review_id),
base AS (
    SELECT r.id, b.role, s.business_id, s.name AS source, r.rating, r.published_at, r.removed_at,
           CASE WHEN l.sentiment IN ('positive', 'neutral', 'negative') THEN l.sentiment END AS sentiment,
           list_distinct([t.name FOR t IN coalesce(from_json(l.topics, '[{"name": "VARCHAR", "polarity": "VARCHAR"}]'),
                                                    []) IF t.polarity = 'negative' AND t.name IS NOT NULL])
               AS negative_topics,
           o.at IS NOT NULL OR nullif(trim(r.reply_text), '') IS NOT NULL OR r.reply_published_at IS NOT NULL
               AS replied,
           -- The first reply seen anywhere: ours, or one written on the platform (least() skips NULLs).
           least(o.at, r.reply_published_at) AS replied_at
    FROM reviews r
    JOIN sources s ON s.id = r.source_id
    JOIN businesses b ON b.id = s.business_id
    LEFT JOIN latest l ON l.review_id = r.id
    LEFT JOIN ours o ON o.review_id = r.id
    WHERE $business::VARCHAR IS NULL OR s.business_id = $business),
periods AS (
    SELECT base.*, k.kind AS period_kind,
           CASE k.kind WHEN 'week' THEN date_trunc('week', timezone($tz, published_at))
                       ELSE date_trunc('month', timezone($tz, published_at)) END::DATE AS period_start
    FROM base CROSS JOIN (SELECT unnest($kinds::VARCHAR[]) AS kind) k),
counted AS (
    SELECT *,
           -- A clock-skewed platform can date a reply before its review; such a reply took no time, not less.
           CASE WHEN replied_at IS NOT NULL THEN greatest(epoch(replied_at - published_at) / 3600.0, 0.0) END
               AS reply_hours
    FROM periods
    -- A review counts in its publication period unless it was removed before that period ended: a closed
    -- period's numbers never change because of a later removal.
    WHERE removed_at IS NULL OR timezone($tz, removed_at)
          >= CASE period_kind WHEN 'week' THEN period_start + INTERVAL 7 DAY ELSE period_start + INTERVAL 1 MONTH END),
scoped AS (
    -- Each review counts in three groups: its source, its business, and its role (own vs competitor).
    SELECT sc.scope, c.role,
           CASE WHEN sc.scope <> 'role' THEN c.business_id END AS business_id,
           CASE WHEN sc.scope = 'source' THEN c.source END AS source,
           c.period_kind, c.period_start, c.id, c.rating, c.sentiment, c.negative_topics, c.replied, c.reply_hours
    FROM counted c CROSS JOIN (VALUES ('source'), ('business'), ('role')) sc(scope)),
keyed AS (
    SELECT *, concat_ws(chr(31), scope, role, coalesce(business_id, ''), coalesce(source, '')) AS gkey FROM scoped),
agg AS (
    SELECT gkey, scope, role, business_id, source, period_kind, period_start,
           count(*) AS reviews, avg(rating) AS avg_rating,
           count(sentiment) AS analysed,
           count(*) FILTER (WHERE sentiment = 'positive') AS positive,
           count(*) FILTER (WHERE sentiment = 'neutral') AS neutral,
           count(*) FILTER (WHERE sentiment = 'negative') AS negative,
           count(*) FILTER (WHERE rating >= $promoter_min) AS promoters,
           count(*) FILTER (WHERE rating < $detractor_below) AS detractors,
           count(*) FILTER (WHERE replied) AS replied,
           count(reply_hours) AS timed,
           quantile_cont(reply_hours, 0.5) AS median_hours
    FROM keyed GROUP BY ALL),
spans AS (
    -- Every period from a group's first review to now: a week without reviews is volume 0, not a gap.
    SELECT gkey, scope, role, business_id, source, period_kind, min(period_start) AS first_start,
           greatest(max(period_start), CASE period_kind WHEN 'week' THEN date_trunc('week', timezone($tz, $now))
                                        ELSE date_trunc('month', timezone($tz, $now)) END::DATE) AS last_start
    FROM agg GROUP BY gkey, scope, role, business_id, source, period_kind),
grid AS (
    SELECT gkey, scope, role, business_id, source, period_kind,
           unnest(generate_series(first_start, last_start,
                                  CASE period_kind WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 MONTH END))::DATE
               AS period_start
    FROM spans),
full_grid AS (
    SELECT g.gkey, g.scope, g.role, g.business_id, g.source, g.period_kind, g.period_start,
           CASE g.period_kind WHEN 'week' THEN g.period_start + INTERVAL 7 DAY
                              ELSE g.period_start + INTERVAL 1 MONTH END::DATE AS period_end,
           CASE g.period_kind WHEN 'week' THEN g.period_start - INTERVAL 7 DAY
                              ELSE g.period_start - INTERVAL 1 MONTH END::DATE AS prev_start,
           coalesce(a.reviews, 0) AS reviews, a.avg_rating, coalesce(a.analysed, 0) AS analysed,
           coalesce(a.positive, 0) AS positive, coalesce(a.neutral, 0) AS neutral,
           coalesce(a.negative, 0) AS negative, coalesce(a.promoters, 0) AS promoters,
           coalesce(a.detractors, 0) AS detractors, coalesce(a.replied, 0) AS replied,
           coalesce(a.timed, 0) AS timed, a.median_hours
    FROM grid g LEFT JOIN agg a USING (gkey, period_kind, period_start)),
topic_hits AS (
    SELECT gkey, period_kind, period_start, topic, count(*) AS hits
    FROM (SELECT gkey, period_kind, period_start, unnest(negative_topics) AS topic
          FROM keyed WHERE sentiment IS NOT NULL)
    GROUP BY ALL),
topic_rows AS (
    -- A topic is listed in a period when it was mentioned then or in the period before (so a drop to 0 shows).
    SELECT DISTINCT f.gkey, f.period_kind, f.period_start, f.prev_start, f.analysed, t.topic
    FROM full_grid f
    JOIN topic_hits t ON t.gkey = f.gkey AND t.period_kind = f.period_kind
                     AND t.period_start IN (f.period_start, f.prev_start)
    WHERE f.analysed > 0),
topic_values AS (
    SELECT r.gkey, r.period_kind, r.period_start, r.topic, coalesce(cur.hits, 0) / r.analysed AS share,
           CASE WHEN p.analysed > 0 THEN coalesce(prev.hits, 0) / p.analysed END AS prev_share, r.analysed AS n
    FROM topic_rows r
    LEFT JOIN topic_hits cur ON cur.gkey = r.gkey AND cur.period_kind = r.period_kind
                            AND cur.period_start = r.period_start AND cur.topic = r.topic
    LEFT JOIN full_grid p ON p.gkey = r.gkey AND p.period_kind = r.period_kind AND p.period_start = r.prev_start
    LEFT JOIN topic_hits prev ON prev.gkey = r.gkey AND prev.period_kind = r.period_kind
                             AND prev.period_start = r.prev_start AND prev.topic = r.topic),
metrics AS (
    SELECT gkey, period_kind, period_start, 'volume' AS metric, NULL AS topic, reviews::DOUBLE AS value,
           reviews AS n FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'avg_rating', NULL, avg_rating, reviews FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'positive_share', NULL, positive / nullif(analysed, 0),
           analysed FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'neutral_share', NULL, neutral / nullif(analysed, 0),
           analysed FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'negative_share', NULL, negative / nullif(analysed, 0),
           analysed FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'net_sentiment', NULL,
           (positive - negative) / nullif(analysed, 0), analysed FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'nps_proxy', NULL,
           100.0 * (promoters - detractors) / nullif(reviews, 0), reviews FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'response_rate', NULL, replied / nullif(reviews, 0),
           reviews FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'median_response_hours', NULL, median_hours, timed
           FROM full_grid
    UNION ALL SELECT gkey, period_kind, period_start, 'topic_negative_share', topic, share, n FROM topic_values
    UNION ALL SELECT gkey, period_kind, period_start, 'topic_negative_share_change', topic, share - prev_share, n
           FROM topic_values)
SELECT f.period_kind, f.period_start, f.period_end, f.period_end <= timezone($tz, $now) AS complete,
       f.scope, f.role, f.business_id, f.source, m.metric, m.topic, m.value::DOUBLE AS value, m.n::BIGINT AS n
FROM metrics m JOIN full_grid f USING (gkey, period_kind, period_start)
WHERE $since::DATE IS NULL
   OR f.period_start >= CASE f.period_kind WHEN 'week' THEN date_trunc('week', $since::DATE)
                                          ELSE date_trunc('month', $since::DATE) END::DATE
ORDER BY f.period_kind DESC, CASE f.scope WHEN 'role' THEN 0 WHEN 'business' THEN 1 ELSE 2 END, f.role DESC,
         f.business_id, f.source, f.period_start, m.metric, m.topic
"""


class TrendsSQL(SQLBase):
    """Queries of the trends area, run inside one store transaction."""

    def trend_series(
        self,
        *,
        timezone: str,
        kinds: list[str],
        now: datetime,
        since: date | None = None,
        business: str | None = None,
    ) -> pa.Table:
        """Every trend metric as one long table (`TREND_SCHEMA`): per period kind, period and group."""
        table = self._con.sql(
            _TRENDS_SQL,
            params={
                "tz": timezone, "kinds": kinds, "now": now, "since": since, "business": business,
                "promoter_min": _PROMOTER_MIN, "detractor_below": _DETRACTOR_BELOW,
            },
        ).to_arrow_table()
        return table.cast(TREND_SCHEMA)

    def trend_businesses(self) -> list[dict[str, Any]]:
        """Businesses with name and role, for labelling trend reports."""
        return self._rows("SELECT id, name, role FROM businesses ORDER BY role DESC, id")
