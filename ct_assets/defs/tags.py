"""Run tags the loop reads back: why a retrain ran, and for which day."""

TRIGGER_TAG = "ct/trigger"          # comma-separated `core.policy.KINDS` of a retrain run
REASONS_TAG = "ct/reasons"
LEAD_TAG = "ct/lead_days"
RETRAIN_FOR_TAG = "ct/retrain_for"  # the partition a retrain run trains for
RESCORE_TAG = "ct/rescore"
