"""Layer builders: one module per builder, declared in layers/*.yml.

A builder is a function ``build(ctx: BuildContext, params: dict) -> dict[str, GeoDataFrame]``
returning one GeoDataFrame per published collection id. The orchestration (new build
folder, writing, atomic switch) lives in `estgeo.build.run`, so builders stay pure
data-in, data-out and can be tested on small frames.
"""
