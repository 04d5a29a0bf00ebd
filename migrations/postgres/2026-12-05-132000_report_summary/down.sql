DROP TABLE report_day_counts;
DROP TABLE report_days;
