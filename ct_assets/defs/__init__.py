"""Dagster definitions, one folder per stage of the loop. Assets here are thin: they move data
between the resources and call the plain functions of `ct_assets.core`."""
