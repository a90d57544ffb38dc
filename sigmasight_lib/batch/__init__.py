"""The papermill batch: job plan, tracking, locking, execution, executors, schedule."""
