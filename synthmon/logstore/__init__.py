"""The log store the runbook's log analysis reads: one small interface (``model.LogStore``),
VictoriaLogs (run here) and Loki (a user's; tested on recorded answers) behind it
(``stores.open_store``). Nothing is imported here: the project model imports ``allow`` alone.
"""
