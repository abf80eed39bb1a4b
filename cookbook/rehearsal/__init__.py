"""Rehearsals: a GPU recipe's notebooks run on this CPU, with only hardware and network swapped.

``python -m cookbook.rehearsal --recipe recipes/workshop.yaml`` (``make rehearse``) reads the
recipe and its overlay ``recipes/rehearsal/<name>.yaml``, prints the overlay (every swap is
declared there and nowhere else), starts the loopback look-alike of the hosted teacher,
writes the hub datasets' stand-ins, and executes notebooks 00-07 of the merged recipe.

* ``lookalike``: DeepSeek-R1's API, as a loopback server answering from the tiny world;
* ``standins``: hub datasets as project-written folders in their real layout;
* ``overlay``: the merge, and the placeholders an overlay may use.
"""
