"""Runtime, neural-network layer: compile a Core ML neural network and run it forward.

``layers/`` holds one module per Core ML layer kind (registry in ``layers/__init__.py``);
``graph`` compiles a spec into steps over named blobs, ``execution`` runs them as cached
plans, ``epilogues`` moves convolution epilogues past max poolings, ``engine`` converts
feature batches to blobs and back.
"""
