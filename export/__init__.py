"""Export to ONNX and TFLite (fp32, fp16, dynamic and full-integer int8), inspection, verification helpers,
runtime wrappers and the native-log redirect. May import: students, the ground floor; never pipeline/.
"""
