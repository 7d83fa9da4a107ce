"""teamstack: one data-science team's isolated stack. Everything lives in components/; see README.md."""

from components.program import run

run()
