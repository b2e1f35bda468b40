-- Cameras compared across nights: per camera and recording date (UTC date when the video or
-- manifest carries a start time, otherwise 'unknown'), people seen and the expression mix.
-- Run: .venv/bin/python samples/query.py results.parquet samples/sql/cameras_by_night.sql
SELECT coalesce(camera, video) AS camera,
       coalesce(CAST(CAST(timestamp_utc AS DATE) AS VARCHAR), 'unknown') AS night,
       count(DISTINCT video || '/' || person_id) AS people,
       count(*) AS face_rows,
       round(avg(s_happy), 3) AS mean_happy,
       round(avg(s_angry + s_disgust + s_fear + s_sad), 3) AS mean_negative,
       round(avg(s_neutral), 3) AS mean_neutral
FROM faces GROUP BY ALL ORDER BY camera, night;
