"""Shared sample completion, key steps and solution for the reward-library tests."""

GOOD = """### Image Description:
The image shows a rectangle split into 3 equal columns; the total area is 6.
### Rationales:
The area of one column is the total area divided by the number of columns.
### Let's think step by step.
### Step 1:
The total area is 6 and there are 3 columns, so 6/3 = 2.
### Step 2:
Each column has area 2, so two columns have 2 \\times 2 = 4.
### The final answer is:
B: 4"""

KEY_STEPS = {"Steps": [["6/3=2", "\\frac{6}{3}=2"], ["2*2=4", "2 \\times 2 = 4"]]}
SOLUTION = "### The final answer is:\nB: 4"
