"""What-if modeling: sessions of hypothetical trades, their impacts, and trade export.

* :mod:`~sigmasight_lib.whatif.sessions`: create / add-trade / remove-trade /
  show / list over the ``modeling_sessions`` table;
* :mod:`~sigmasight_lib.whatif.impacts`: before / after / change of exposures,
  Greeks, factor betas, VaR and stress P&L on the pro-forma positions, in memory;
* :mod:`~sigmasight_lib.whatif.fix`: CSV and FIX 4.4 NewOrderSingle export,
  recorded in ``export_history``;
* :mod:`~sigmasight_lib.whatif.cli`: the ``whatif`` and ``export`` command groups.
"""
