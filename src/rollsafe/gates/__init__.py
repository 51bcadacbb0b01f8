"""Gates before and between stages: test-suite results and the regression risk of a change.

Decisions, like the judge: evidence in (a JUnit report, a git range, a coverage
report, the journal's past rollbacks), a verdict with its evidence out. The
controller runs the commands and journals what these modules conclude.
"""
