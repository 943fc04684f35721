"""The `gru-edge` subcommands, one module each (as Mycroft Precise has one script a job).

Each module has `add_parser(commands)`, which declares the command's arguments and sets its
`run(args)` as the default `run`; what a command needs beyond its arguments is imported in its
`run`, so that `gru-edge stream` on a device loads the runtime and nothing else. Commands
parse arguments and print; the work is in the library, so nothing here is needed to use
gru_edge from Python.
"""

from gru_edge.commands import (
    config,
    devices,
    evaluate,
    export,
    features,
    info,
    listen,
    mine,
    serve,
    stream,
    synth,
    synth_negatives,
    train,
)

# In the order `gru-edge --help` lists them.
MODULES = (
    config,
    features,
    synth,
    synth_negatives,
    train,
    export,
    info,
    stream,
    listen,
    serve,
    evaluate,
    mine,
    devices,
)
