"""The pipeline: the stage runner, the hourly and daily cycles and their acting stages."""
