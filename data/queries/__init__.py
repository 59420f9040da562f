"""Read queries: aggregate in SQL, return small frames or dataclasses."""
