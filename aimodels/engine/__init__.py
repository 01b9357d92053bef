"""The training engine of aimodels: plain functions over polars frames and bytes, with no models, storage or
HTTP. Services load a dataset version's Parquet file, call these, and store what they return.

Modules and their entry points (each documented where it is defined):
- training:   Spec, Trained, check(columns, task=, target=, features=, split_column=, validation=) ->
              (features, errors), train(frame, spec, report) -> Trained
- preprocess: the preprocessing pipeline every model starts with (FrameColumns, build)
- evaluate:   classification(), regression(), clustering(), feature_importances()
- artifacts:  dumps(model) -> bytes, loads(data, allow=()) (skops, allowlisted types only)
- predict:    frame_of(rows, signature) -> DataFrame, predict(model, frame, signature) -> dict, RowError
- errors:     EngineError(code, message, **details), ArtifactUntrusted, the codes
The algorithms themselves are plugins: aimodels.algorithms (docs/algorithms.md).
"""
