"""Learning from the bank's own history: propensity from past contacts, each as
it was known the day before (``examples``, ``features``), judged on a later
period (``evaluate``), kept as text and put in force only when better
(``registry``, ``train``)."""
