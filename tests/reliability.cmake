# Reliability tests (fault injection, kill loops, hostile files, concurrency, exit paths); see docs/reliability.md.
