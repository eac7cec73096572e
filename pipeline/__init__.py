"""PARNet pipeline: raw videos -> frames -> 2D poses -> segment indexes -> PARNet -> metrics."""
