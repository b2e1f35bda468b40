-- Share of people showing each expression, per video and minute (the paper's Tables 6/8 over
-- time). Each person counts once per minute, with the smoothed label they showed most often.
-- Run: .venv/bin/python samples/query.py results.parquet samples/sql/share_per_minute.sql
WITH per_person AS (
  SELECT video, floor(timestamp_s / 60) AS minute, person_id, mode(label) AS label
  FROM faces GROUP BY ALL
)
SELECT video, minute, count(*) AS people,
  round(100.0 * count(*) FILTER (label = 'angry')    / count(*), 1) AS pct_angry,
  round(100.0 * count(*) FILTER (label = 'disgust')  / count(*), 1) AS pct_disgust,
  round(100.0 * count(*) FILTER (label = 'fear')     / count(*), 1) AS pct_fear,
  round(100.0 * count(*) FILTER (label = 'happy')    / count(*), 1) AS pct_happy,
  round(100.0 * count(*) FILTER (label = 'sad')      / count(*), 1) AS pct_sad,
  round(100.0 * count(*) FILTER (label = 'surprise') / count(*), 1) AS pct_surprise,
  round(100.0 * count(*) FILTER (label = 'neutral')  / count(*), 1) AS pct_neutral
FROM per_person GROUP BY video, minute ORDER BY video, minute;
