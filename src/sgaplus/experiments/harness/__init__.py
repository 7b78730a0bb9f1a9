"""The machinery every experiment shares: protocols, models and images, the unit
store, the runner, BD metrics, plotting and the report. The experiments themselves
are the modules beside this package, one each."""
