-- The most negative five minutes of each recording: crowd windows grouped into 5-minute
-- spans, ranked by the average share of people showing angry, disgust, fear or sad.
-- Run: .venv/bin/python samples/query.py results.parquet samples/sql/most_negative_five_minutes.sql
WITH spans AS (
  SELECT video, floor(window_start_s / 300) * 300 AS span_start_s,
         avg(pct_angry + pct_disgust + pct_fear + pct_sad) FILTER (people > 0) AS pct_negative,
         sum(people) AS person_windows
  FROM crowd GROUP BY ALL
)
SELECT video, span_start_s, span_start_s + 300 AS span_end_s, round(pct_negative, 1) AS pct_negative, person_windows
FROM spans WHERE pct_negative IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY video ORDER BY pct_negative DESC, span_start_s) = 1
ORDER BY video;
