"""Runtime, neural-network layer: compile a Core ML neural network and run it forward.

``layers/`` holds one module per Core ML layer kind (registry families in ``layers/__init__.py``);
``inputs`` reads the model inputs as tensors, ``tensors`` defines the two blob layouts (``chw``,
``nd``) and the relayout between them, ``planner`` walks the layers choosing layouts, ``graph``
compiles a spec into steps over named blobs, ``dynamic`` compiles it per set of input values
when shapes depend on them, ``execution`` runs steps as cached plans,
``epilogues`` moves convolution epilogues past max poolings, ``engine`` converts feature
batches to blobs and back.
"""
