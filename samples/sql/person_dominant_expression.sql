-- Each person's dominant expression, how long they were seen and how sure the model was.
-- Run: .venv/bin/python samples/query.py results.parquet samples/sql/person_dominant_expression.sql
SELECT video, person_id, frames,
       round(last_timestamp_s - first_timestamp_s, 2) AS seen_for_s,
       dominant_label, round(dominant_share, 3) AS dominant_share,
       round(greatest(mean_s_angry, mean_s_disgust, mean_s_fear, mean_s_happy, mean_s_sad, mean_s_surprise, mean_s_neutral), 3) AS top_mean_prob
FROM persons ORDER BY video, frames DESC, person_id;
